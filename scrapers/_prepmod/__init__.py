"""The shared PrepMod engine: the clinic search HTML and its text rules."""
