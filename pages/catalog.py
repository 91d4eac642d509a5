"""The dashboard's pages in menu order: app.py builds the navigation from this list, and
the tests and the bench visit every page through it, so a new page is one line here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    name: str  # pages/<name>.py, and the page's URL path
    title: str  # in the menu
    icon: str
    heading: str  # the page's own title (st.title), which the browser test waits for

    @property
    def path(self) -> str:
        return f"pages/{self.name}.py"


PAGES = [
    PageEntry("overview", "Overview", ":material/school:", "What a VQ-VAE does"),
    PageEntry("reconstruct", "Reconstruct", ":material/image:", "Reconstruct a picture"),
    PageEntry("train", "Train", ":material/model_training:", "Train a VQ-VAE"),
    PageEntry("compare", "Compare", ":material/compare:", "Compare codebooks"),
    PageEntry("sample", "Sample", ":material/casino:", "Sample from the prior"),
    PageEntry("codebook", "Codebook", ":material/grid_view:", "The codebook"),
    PageEntry("walk", "Walk", ":material/timeline:", "Walk in code space"),
]
