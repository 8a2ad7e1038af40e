"""What a message looks like and how it travels.

Templates and their rendering, GSM-7, the SMTP pool, Apprise targets, unsubscribe tokens.
"""
