"""Guards: float64 scores for any clip of z_log_var, and the cause of every non-finite one.

Owns the settings (``settings``), the latent arithmetic in float64 (``latent``: variance,
KL, radius), the clip-independent preparation of a pass and its cache (``prepared``,
``prepared_cache``), the guarded scores and causes (``guarded``), what upstream's float32 or
float16 arithmetic would have made of them (``precision``), and the policies for events
without a finite score (``policy``). Reads scoring passes; knows nothing of metrics.
"""
