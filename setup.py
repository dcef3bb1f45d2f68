"""Build settings that setup.cfg cannot hold: the optional compiled Kafka record decoder.

Without a C compiler the build goes on without it and dstreams decodes records in Python.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dstreams.sources.kafka._cdecoder",
            ["dstreams/sources/kafka/_cdecoder.c"],
            optional=True,
        )
    ]
)
