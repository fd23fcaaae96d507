# The function as AWS runs it. LiteRT needs Amazon Linux 2023 (python:3.12 or later); see docs/local.md.
FROM public.ecr.aws/lambda/python:3.13
# checkov:skip=CKV_DOCKER_2:Lambda ignores HEALTHCHECK; its runtime API tells it whether the function answers
# checkov:skip=CKV_DOCKER_3:Lambda runs the image as its own unprivileged user, whatever USER says

COPY requirements.txt ${LAMBDA_TASK_ROOT}/
# Then the files of LiteRT the function never opens, 32 MB: scripts/lambda_image.py's UNUSED_RUNTIME_FILES, and why.
# -f: the aarch64 wheel (docker buildx build --platform linux/arm64) has no vendors/.
RUN pip install --no-cache-dir -r "${LAMBDA_TASK_ROOT}/requirements.txt" && \
    site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" && \
    rm -rf "$site/ai_edge_litert/libLiteRtWebGpuAccelerator.so" "$site/ai_edge_litert/tools" \
          "$site/ai_edge_litert/vendors" "$site/ai_edge_litert/aot"

COPY lambda_function.py clothing_model.tflite clothing_model.json clothing_model.reference.json ${LAMBDA_TASK_ROOT}/
COPY clothing/ ${LAMBDA_TASK_ROOT}/clothing/
# Lambda's file system is read-only: without this, every cold start compiles the code again.
RUN python -m compileall -q "${LAMBDA_TASK_ROOT}"

CMD ["lambda_function.lambda_handler"]
