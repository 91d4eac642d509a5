"""The linked view: the picture, its reconstruction and its code grid side by side, where
pointing at any of the three lights up the same place in all of them (a cell of the grid is
a patch of downsample x downsample pixels in each picture).

Plotly hands Streamlit clicks and selections, never hover, so the linking runs in the
browser: `linked_view_html` writes one self-contained HTML page (the pictures as PNG data,
the grid as coloured cells, a few lines of script) for `st.iframe`. Everything in it is made
here from tensors; no text a user typed goes into it.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import torch
from PIL import Image
from plotly.colors import sample_colorscale

MAX_LABELLED_SIDE = 16  # ids printed in the cells up to this many cells a side, as the code map does


def png_data_uri(image: torch.Tensor) -> str:
    """An image [C, H, W] in [0, 1] as a PNG data URI."""
    pixels = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def cell_colours(codes: torch.Tensor) -> list[str]:
    """One colour a cell of a code grid [h, w], row by row: Viridis over the grid's own id
    range, as the code map's heatmap colours it."""
    grid = codes.detach().cpu().numpy().astype(float)
    low, high = grid.min(), grid.max()
    values = (grid - low) / (high - low) if high > low else np.zeros_like(grid)
    return sample_colorscale("Viridis", values.ravel().tolist())


def linked_view_html(original: torch.Tensor, reconstruction: torch.Tensor, codes: torch.Tensor,
                     width: int) -> str:
    """original, reconstruction [C, H, W] in [0, 1] and their codes [h, w] -> an HTML page
    showing the three at `width` CSS pixels each (pixels kept crisp), linked under the pointer."""
    h, w = codes.shape
    height = round(width * original.shape[-2] / original.shape[-1])
    data = {"h": h, "w": w, "codes": codes.reshape(-1).tolist()}
    labelled = max(h, w) <= MAX_LABELLED_SIDE
    cells = "".join(f'<div style="background:{colour}">{code if labelled else ""}</div>'
                    for colour, code in zip(cell_colours(codes), codes.reshape(-1).tolist()))
    panel = ('<figure><div class="panel" style="width:{w}px;height:{h}px">{inner}<div class="mark"></div></div>'
             '<figcaption>{caption}</figcaption></figure>')
    panels = [
        panel.format(w=width, h=height, caption="as the model sees it",
                     inner=f'<img src="{png_data_uri(original)}" width="{width}" height="{height}">'),
        panel.format(w=width, h=height, caption="reconstruction",
                     inner=f'<img src="{png_data_uri(reconstruction)}" width="{width}" height="{height}">'),
        panel.format(w=width, h=height, caption="codes",
                     inner=f'<div class="grid" style="grid-template-columns:repeat({w},1fr)">{cells}</div>'),
    ]
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: "Source Sans Pro", sans-serif; font-size: 14px; color: #31333f; }}
.row {{ display: flex; gap: 16px; flex-wrap: wrap; }}
figure {{ margin: 0; }} figcaption {{ text-align: center; color: #6b6f7b; margin-top: 4px; }}
.panel {{ position: relative; cursor: crosshair; }}
img {{ display: block; image-rendering: pixelated; }}
.grid {{ display: grid; width: 100%; height: 100%; font-size: 9px; color: white; }}
.grid div {{ display: flex; align-items: center; justify-content: center; overflow: hidden; }}
.mark {{ position: absolute; display: none; box-sizing: border-box; border: 2px solid #0072B2;
         box-shadow: 0 0 0 1px white; pointer-events: none; }}
#where {{ min-height: 1.4em; margin-top: 6px; }}
</style></head><body>
<div class="row">{''.join(panels)}</div>
<div id="where">Point at a cell or a pixel: the same place lights up in all three.</div>
<script>
const grid = {json.dumps(data)};
const panels = [...document.querySelectorAll(".panel")];
const where = document.getElementById("where");
function show(row, column) {{
  for (const panel of panels) {{
    const mark = panel.querySelector(".mark"), cw = panel.clientWidth / grid.w, ch = panel.clientHeight / grid.h;
    Object.assign(mark.style, {{display: "block", left: column * cw + "px", top: row * ch + "px",
                                width: cw + "px", height: ch + "px"}});
  }}
  where.textContent = `row ${{row}}, column ${{column}}: code ${{grid.codes[row * grid.w + column]}}`;
}}
for (const panel of panels) {{
  panel.addEventListener("mousemove", event => {{
    const box = panel.getBoundingClientRect();
    const column = Math.min(grid.w - 1, Math.floor((event.clientX - box.left) / box.width * grid.w));
    const row = Math.min(grid.h - 1, Math.floor((event.clientY - box.top) / box.height * grid.h));
    show(row, column);
  }});
  panel.addEventListener("mouseleave", () => panels.forEach(p => p.querySelector(".mark").style.display = "none"));
}}
</script></body></html>"""
