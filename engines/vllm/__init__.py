"""vLLM's OpenAI-compatible server (``engine=vllm``): ``engine.py`` (it registers itself)."""
