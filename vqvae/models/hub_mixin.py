"""How every model class saves and loads itself: PyTorchModelHubMixin (config.json +
model.safetensors + model card), loaded from safetensors only and always strictly.
PyTorchModelHubMixin's own loader defaults to strict=False and falls back to torch.load of
pytorch_model.bin (a pickle), which we never want."""

from __future__ import annotations

import os

from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from safetensors.torch import load_model


class SafetensorsHubMixin(PyTorchModelHubMixin):
    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         map_location: str = "cpu", strict: bool = True, **model_kwargs):
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, "model.safetensors")
        else:
            weights = hf_hub_download(repo_id=model_id, filename="model.safetensors", revision=revision,
                                      cache_dir=cache_dir, force_download=force_download, token=token,
                                      local_files_only=local_files_only)
        load_model(model, weights, strict=True, device=str(map_location))
        return model.to(map_location).eval()
