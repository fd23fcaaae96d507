# The course's current design, the second baseline of `make bench`: ONNX Runtime and keras-image-helper, as its
# ONNX workshop serves a model, here serving this project's own network exported to ONNX (benchmarks/onnx_model.py)
# so that the runtimes and handlers are compared on the same network.
import onnxruntime as ort
from keras_image_helper import create_preprocessor

preprocessor = create_preprocessor('xception', target_size=(240, 240))

session = ort.InferenceSession('clothing_model.onnx', providers=['CPUExecutionProvider'])
input_name = session.get_inputs()[0].name
output_name = session.get_outputs()[0].name

classes = [
    'dress',
    'hat',
    'longsleeve',
    'outwear',
    'pants',
    'shirt',
    'shoes',
    'shorts',
    'skirt',
    't-shirt'
]


def predict(url):
    X = preprocessor.from_url(url)
    preds = session.run([output_name], {input_name: X})
    float_predictions = preds[0][0].tolist()
    return dict(zip(classes, float_predictions))


def lambda_handler(event, context):
    url = event['url']
    result = predict(url)
    return result
