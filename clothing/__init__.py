"""Clothing classification on AWS Lambda: image in, ten class scores out."""
