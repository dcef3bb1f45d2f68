"""Build settings that setup.cfg cannot hold: two optional compiled loops.

``dstreams._speedups`` (the map-side and reduce-side combines) and
``dstreams.sources.kafka._cdecoder`` (the Kafka record decoder). Without a C compiler the build goes
on without them and dstreams runs the same loops in Python.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("dstreams._speedups", ["dstreams/_speedups.c"], optional=True),
        Extension(
            "dstreams.sources.kafka._cdecoder",
            ["dstreams/sources/kafka/_cdecoder.c"],
            optional=True,
        )
    ]
)
