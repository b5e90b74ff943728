"""Live: visuals generated in real time from the music that is playing.

- :mod:`~pipelines.live.tracker`: an online beat tracker (audio blocks in, a forecast of the beats out);
- :mod:`~pipelines.live.conductor`: what each frame shows (prompts, the walk, pulses on predicted beats);
- :mod:`~pipelines.live.engine`: the session: input, tracker, generator and outputs on one clock;
- :mod:`~pipelines.live.sources`: a song played in real time, a sound device, blocks pushed by a server;
- :mod:`~pipelines.live.display`: the full-screen page (MJPEG) and its controls over HTTP;
- :mod:`~pipelines.live.osc`: the same controls over OSC, for VJ rigs.
"""
