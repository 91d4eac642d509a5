"""Data: data sets as uint8 tensors, their downloads, and reading uploads."""
