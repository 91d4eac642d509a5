"""The dashboard's widget for a config setting, decided without Streamlit: which kind of
widget, its title, tooltip and range, the value it starts from, whether a value (read back
from a URL, say) fits it, and what its value means as the setting. The settings' own facts
(type, choices, bounds, help) come from vqvae.config; the titles and the slider stops, which
only the dashboard shows, are declared here."""

from dataclasses import dataclass

from vqvae.config import ModelConfig, TrainConfig, levels_from, levels_text, setting_info


@dataclass(frozen=True)
class Look:
    """How a setting looks on the dashboard: its widget's title (else the setting's label),
    the values a slider steps through (stops), and (low, high, step) of its widget, inside
    the setting's bounds (ui)."""
    title: str | None = None
    stops: tuple | None = None
    ui: tuple | None = None


LOOKS = {
    (ModelConfig, "arch"): Look("Architecture"),
    (ModelConfig, "codebook_size"): Look("Codebook size K", stops=(8, 16, 32, 64, 128, 256, 512, 1024, 2048)),
    (ModelConfig, "code_dim"): Look("Code dimension D", stops=(2, 4, 8, 16, 32, 64, 128)),
    (ModelConfig, "quantizer"): Look("Quantizer"),
    (ModelConfig, "fsq_levels"): Look("FSQ levels"),
    (ModelConfig, "beta"): Look("Commitment weight beta", ui=(0.0, 2.0, 0.05)),
    (ModelConfig, "residual_depth"): Look("Residual depth (codebooks)", ui=(1, 8, 1)),
    (ModelConfig, "entropy_weight"): Look("Entropy weight (LFQ, BSQ)", ui=(0.0, 1.0, 0.05)),
    (ModelConfig, "ema_bias_correction"): Look("Bias-corrected EMA"),
    (ModelConfig, "cosine_codebook"): Look("Cosine codebook"),
    (ModelConfig, "lookup_dim"): Look("Lookup dimension"),
    (ModelConfig, "dead_code_window"): Look("Dead after (steps)"),
    (ModelConfig, "restart_dead_codes"): Look("Restart dead codes"),
    (ModelConfig, "levels"): Look("Code levels (2: VQ-VAE-2)"),
    (ModelConfig, "top_codebook_size"): Look("Top codebook size"),
    (TrainConfig, "epochs"): Look("Epochs", ui=(1, 500, 1)),
    (TrainConfig, "lr"): Look("Learning rate", stops=(1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)),
    (TrainConfig, "seed"): Look("Seed", ui=(0, 2**31 - 1, 1)),
}


@dataclass(frozen=True)
class Widget:
    """One setting's widget. kind: "toggle", "radio" (options), "select_slider" (options),
    "text", "slider" (float low..high by step) or "number" (int from low, to high or
    unbounded); `start` is the value it shows first; `optional`: 0 stands for None."""
    kind: str
    title: str
    tip: str | None
    start: object
    options: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    optional: bool = False
    value_type: type = str

    def takes(self, value) -> bool:
        """Whether the widget can show `value` (one read back from a URL, say)."""
        kind = self.value_type
        if self.options:
            number = (int, float) if kind is float else kind
            return value in self.options and isinstance(value, number)
        if kind is bool or kind is str:
            return isinstance(value, kind)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def widget_for(section: type, name: str, value) -> Widget:
    """The widget of a config setting, made from its declaration: a toggle for a switch, a
    radio for choices, a select-slider for stops, a text box for text (a tuple of numbers as
    "8,5,5,5"), else a slider or a number box within its range (0 standing for "none" when
    the setting may be None). `value` is where it starts (the nearest stop, for stops)."""
    info, look = setting_info(section, name), LOOKS.get((section, name), Look())
    title, tip, kind = look.title or info["label"], info.get("help") or None, info["type"]
    low, high, step = look.ui or (info.get("low"), info.get("high"), None)
    common = dict(title=title, tip=tip, value_type=kind, low=low, high=high)
    if kind is bool:
        return Widget("toggle", start=value, **common)
    if info.get("choices"):
        return Widget("radio", start=value, options=tuple(info["choices"]), **common)
    if look.stops:
        nearest = min(look.stops, key=lambda stop: abs(stop - value))
        return Widget("select_slider", start=nearest, options=look.stops, **common)
    if kind is str:
        return Widget("text", start=levels_text(value) if info["numbers"] else value, **common)
    if kind is float:
        return Widget("slider", start=value, step=step, **common)
    if info["optional"]:
        common.update(low=0, tip=f"{tip} (0: none)" if tip else "0: none")
        return Widget("number", start=int(value or 0), optional=True, **common)
    return Widget("number", start=value, **common)


def setting_value(section: type, name: str, shown):
    """What a widget's value means as the setting: 0 is None for an optional number, and the
    text of a tuple setting its numbers (text that is not numbers is kept, for validate() to
    refuse in words)."""
    if setting_info(section, name)["optional"] and shown == 0:
        return None
    if setting_info(section, name)["numbers"]:
        return levels_from(shown)
    return shown
