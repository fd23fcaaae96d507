"""Decoding within budgets: structure checks, the cost from the header, and the guarded decode (decode)."""
