"""One thin module per library line; each translates library calls into session-model events."""
