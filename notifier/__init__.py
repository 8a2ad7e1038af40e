"""Appointment Notifier: tells people the moment a scarce appointment opens up."""

__version__ = "0.1.0"
__all__ = ["__version__"]
