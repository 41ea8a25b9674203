"""A Hugging Face model directory: README.md front matter (the model card) and config.json.

Front matter fields map to metadata: license, datasets, base_model (+ base_model_relation), pipeline_tag,
tags, language (two-letter codes, as ModelPack capabilities), library_name (framework) and model-index
(metrics with dataset and split). model-index is read with ``huggingface_hub``'s own parser
(``model_index_to_eval_results``, the ``hf`` extra) rather than a second implementation of its rules; without
it the metrics are reported as not mapped. config.json gives architecture, family, precision and context length.
"""

from __future__ import annotations

import json
from typing import Any

from .common import Draft, load_yaml, spdx, strings, text

CARD = "README.md"
CONFIG = "config.json"
MAX_CONFIG = 4 * 1024 * 1024
RELATIONS = ("finetune", "adapter", "merge", "quantized")


def front_matter(readme: str) -> tuple[str | None, str]:
    """(YAML text between the leading ``---`` lines, the markdown after it)."""
    lines = readme.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, readme
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:])
    return None, readme


def from_card(readme: str, source: str = CARD) -> Draft:
    d = Draft(source)
    yaml_text, body = front_matter(readme)
    card = load_yaml(yaml_text, source) if yaml_text else None
    card = card if isinstance(card, dict) else {}
    d.set("description", _first_paragraph(body))
    license_ = card.get("license")
    d.set("license", spdx(license_))
    if license_ and not spdx(license_) or license_ == "other":
        d.unmapped(f"license {str(license_)[:80]!r} is not an SPDX id; see license_name/license_link in the card")
    d.set("pipeline_tag", text(card.get("pipeline_tag"), 128))
    d.set("tags", strings(card.get("tags")))
    d.set("framework", text(card.get("library_name"), 128))
    d.set("title", text(card.get("model_name"), 256))
    languages = strings(card.get("language"))
    iso = [lang for lang in languages if len(lang) == 2 and lang.isascii() and lang.isalpha() and lang.islower()]
    if iso:
        d.set("capabilities", {"languages": iso})
    if len(iso) != len(languages):
        d.unmapped(f"languages without a two-letter code: {', '.join(sorted(set(languages) - set(iso)))[:200]}")
    base = strings(card.get("base_model"))
    if base:
        d.lineage("base_model", base[0])
        if len(base) > 1:
            d.unmapped(f"{len(base)} base models; kept the first ({base[0]})")
        relation = card.get("base_model_relation")
        if relation in RELATIONS:
            d.lineage("base_model_relation", relation)
        elif relation is not None:
            d.unmapped(f"base_model_relation {str(relation)[:40]!r} is not one of {', '.join(RELATIONS)}")
    datasets = strings(card.get("datasets"))
    if datasets:
        d.lineage("datasets", [{"name": ds, "uri": f"https://huggingface.co/datasets/{ds}"} for ds in datasets])
    if card.get("model-index") is not None:
        _model_index(d, card["model-index"])
    return d


def _first_paragraph(body: str) -> str | None:
    para: list[str] = []
    for line in body.split("\n"):
        s = line.strip()
        if s.startswith(("#", "<", "!", "|", "```", "---")) or (not s and not para):
            if para:
                break
            continue
        if not s:
            break
        para.append(s)
    return " ".join(para)[:8192] or None


def _model_index(d: Draft, model_index: Any) -> None:
    try:
        from huggingface_hub.repocard_data import model_index_to_eval_results
    except ImportError:
        d.unmapped("model-index not mapped to metrics: install modelcrate[hf] (huggingface_hub) to read it")
        return
    try:
        _name, results = model_index_to_eval_results(model_index)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        d.unmapped(f"model-index is malformed ({type(exc).__name__}: {exc}); no metrics taken")
        return
    metrics = []
    for r in results:
        value = r.metric_value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            d.unmapped(f"metric {r.metric_type!r} has a value that is neither a number nor text")
            continue
        metric: dict[str, Any] = {"name": str(r.metric_name or r.metric_type)[:256], "value": value}
        dataset = r.dataset_name or r.dataset_type
        if dataset:
            metric["dataset"] = str(dataset)[:512]
        if r.dataset_split:
            metric["split"] = str(r.dataset_split)[:128]
        metrics.append(metric)
    d.set("metrics", metrics[:1000])


def from_config(raw: bytes, source: str = CONFIG) -> Draft:
    d = Draft(source)
    if len(raw) > MAX_CONFIG:
        d.unmapped(f"larger than {MAX_CONFIG} bytes; not read")
        return d
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError):
        d.unmapped("not valid JSON; not read")
        return d
    if not isinstance(config, dict):
        return d
    arch = strings(config.get("architectures"))
    d.set("architecture", arch[0][:256] if arch else None)
    d.set("family", text(config.get("model_type"), 256))
    d.set("precision", text(config.get("torch_dtype") or config.get("dtype"), 32))
    ctx = config.get("max_position_embeddings")
    if isinstance(ctx, int) and not isinstance(ctx, bool):
        d.set("extra", {"context_length": ctx})
    return d
