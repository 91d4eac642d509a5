"""VQ-VAE Lab dashboard: `streamlit run app.py` (or `bash scripts/run.sh app`).

The navigation frame: the pages of pages/catalog.py; each page draws the shared sidebar (device and
active VQ-VAE) through pages/common.py.
"""

import streamlit as st

from pages.catalog import PAGES

st.set_page_config(page_title="VQ-VAE Lab", page_icon="🧩", layout="wide")
page = st.navigation([st.Page(entry.path, title=entry.title, icon=entry.icon, default=entry is PAGES[0])
                      for entry in PAGES])
page.run()
