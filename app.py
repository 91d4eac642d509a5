"""VQ-VAE Lab dashboard: `streamlit run app.py` (or `bash scripts/run.sh app`).

The navigation frame: the page list; each page draws the shared sidebar (device and
active VQ-VAE) through pages/common.py.
"""

import streamlit as st

st.set_page_config(page_title="VQ-VAE Lab", page_icon="🧩", layout="wide")
page = st.navigation([
    st.Page("pages/overview.py", title="Overview", icon=":material/school:", default=True),
    st.Page("pages/reconstruct.py", title="Reconstruct", icon=":material/image:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/sample.py", title="Sample", icon=":material/casino:"),
    st.Page("pages/codebook.py", title="Codebook", icon=":material/grid_view:"),
])
page.run()
