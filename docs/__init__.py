"""Operator documentation and the generators that keep it in step with the code (flags, metrics)."""
