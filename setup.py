"""The compiled part of ocrtrain; everything else is declared in pyproject.toml.

The training kernels on CPU (ocrtrain/models/cpu_kernels.py) are optional: without a C compiler the install goes on
and training uses paddle's own, slower kernels.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ocrtrain.models._cpu_kernels",
            ["ocrtrain/models/_cpu_kernels.c"],
            extra_compile_args=["-O3", "-fopenmp-simd"],
            optional=True,
        )
    ]
)
