# The function as AWS runs it. LiteRT needs Amazon Linux 2023 (python:3.12 or later); see README.
FROM public.ecr.aws/lambda/python:3.13

COPY requirements.txt ${LAMBDA_TASK_ROOT}/
RUN pip install --no-cache-dir -r "${LAMBDA_TASK_ROOT}/requirements.txt"

COPY lambda_function.py clothing_model.tflite clothing_model.json ${LAMBDA_TASK_ROOT}/
COPY clothing/ ${LAMBDA_TASK_ROOT}/clothing/
# Lambda's file system is read-only: without this, every cold start compiles the code again.
RUN python -m compileall -q "${LAMBDA_TASK_ROOT}"

CMD ["lambda_function.lambda_handler"]
