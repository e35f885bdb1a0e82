"""GPT-2 in JAX: Hugging Face checkpoint loading, fast sampling, fine-tuning."""
