"""The code MLflow loads for a registered ocrtrain model ("models from code": no pickled objects in the registry).

``register_model`` logs this file as the pyfunc's code; loading it defines the model as the OCR pipeline.
"""

import mlflow

from ocrtrain.mlflow_registry import OCRModel

mlflow.models.set_model(OCRModel())
