"""The dashboard's support: the run manager, figures, codebook views (plotly lives here)."""
