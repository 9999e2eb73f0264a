"""AI tariff classification: product description in, HS code, duty and regulations out.

A file per job:

- `text`, `vectorizer`: normalisation and TF-IDF features shared by training and inference;
- `corpus`, `phrases`: the HS 2022 nomenclature and the phrasings the model learns from;
- `train`, `model`: training (seeded, minutes) and the numpy/scipy classifier it writes;
- `questions`, `dialogue`: the progressive questions that separate close candidates;
- `sessions`: dialogue sessions with expiry; `service`: what the CLI and API call;
- `evaluate`: accuracy at HS2/4/6, latency and simulated dialogue length;
- `oracle`: the TARIFF oracle (declared code vs prediction, duty gap) for attestation;
- `config`: paths and thresholds; `errors`: the refusals, each with a code.

The shipped model is in `model/` (see `model/MODEL_CARD.md`).
"""
