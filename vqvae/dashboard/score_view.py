"""A prior's sample-quality score, as the Sample page shows it (vqvae.dashboard.scores keeps it)."""

from __future__ import annotations

import streamlit as st


def show_score(kept: dict) -> None:
    """The score's four numbers, each with what it means, and how it was made."""
    cols = st.columns(4)
    cols[0].metric("Label accuracy", f"{kept['label_accuracy']:.1%}",
                   help="how often the classifier names the class that was asked for")
    cols[1].metric("Fréchet distance", f"{kept['frechet_distance']:.2f}",
                   help="between the classifier's features of the samples and of real held-out images: lower is better")
    cols[2].metric("Ceiling: reconstructions", f"{kept['reconstruction_label_accuracy']:.1%} · "
                                              f"{kept['reconstruction_frechet_distance']:.2f}",
                   help="the same two numbers for the held-out images' VQ-VAE reconstructions: the best a prior "
                        "over these codes can do")
    cols[3].metric("Judge's accuracy", f"{kept['classifier_accuracy']:.1%}",
                   help="the classifier, trained on real training images only, on the real held-out images")
    st.caption(f"{kept['n']} samples, the classes in turn, temperature {kept['temperature']:g}, seed {kept['seed']}, "
               f"judged by the bundled {kept.get('classifier', 'classifier')}; `python -m vqvae score --prior ...` "
               f"gives the same numbers.")
