"""Pre-trained representations: product text read by a shipped sentence encoder, and a
behaviour encoder pre-trained without labels on every customer's purchase sequence."""
