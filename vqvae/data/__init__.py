"""Data and I/O: data sets, uploads, checkpoint folders and the Hub."""
