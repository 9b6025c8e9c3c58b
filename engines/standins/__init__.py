"""Stand-ins and fakes shared by ``tests/`` and ``benchmarks/`` (neither imports the other).

``tgi/`` (a TGI 3.3.7 stand-in that runs without a GPU), ``fake_openai_server`` (a fast streaming
server recording its own timing truth) and ``truth`` (comparing a client's view with it),
``fake_flex_opt`` (FlexGen's benchmark log), ``sleeper`` (a command-engine trial of known length),
``schedule_floor`` (a makespan lower bound), ``fake_trials`` (finished trials in a results store).
No production module imports this package (scripts/check_layers.py).
"""
