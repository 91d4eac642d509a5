"""The bench: the library's own training (vqvae.train and train_prior, timed through
training hooks) and its pages, beside the tutorials' straightforward pipelines.

    python -m bench [--quick] [--json FILE]        the table (python -m bench --help: the groups)
    python -m bench.report FILE.json docs/bench.md  the table written into the docs

Modules: table (rows and their targets), timed (the one timed-training entry), timing
(clocks); the baselines (baseline, prior_baseline, pokemon_baseline: the tutorials' own
pipelines, kept apart from the library); the rows (mnist, memory, sampling, quality,
variants, pokemon, full_size, interaction, dashboard with pages: only these two import
Streamlit); report (the docs' tables).
"""
