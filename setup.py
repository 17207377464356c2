"""The compiled part of ocrtrain; everything else is declared in pyproject.toml.

The depthwise convolution kernel of training on CPU (ocrtrain/models/depthwise_conv.py) is optional: without a C
compiler the install goes on and training uses paddle's own, slower kernel.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ocrtrain.models._depthwise_native",
            ["ocrtrain/models/_depthwise_native.c"],
            extra_compile_args=["-O3", "-fopenmp-simd"],
            optional=True,
        )
    ]
)
