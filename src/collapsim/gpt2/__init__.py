"""The GPT-2 backend in JAX: the model (:mod:`~collapsim.gpt2.model`), Hugging Face checkpoint folders
(:mod:`~collapsim.gpt2.checkpoint`), the tokenizer, fast sampling, fine-tuning (:mod:`~collapsim.gpt2.train`)
and model sizes. It knows nothing of collapse: the protocol is the family :mod:`collapsim.families.llm`."""
