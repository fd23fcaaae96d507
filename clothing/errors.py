"""Errors a caller can cause, each with the HTTP status that tells them so.

    ClothingError                  500  base; also the unexpected
    ├── BadRequest                 400  malformed event or body
    │   └── UnsupportedScheme      400  a URL that is not http(s)
    ├── UrlRefused                 403  the address policy refuses the host
    ├── NotFound                   404  a catalog key with no object behind it
    ├── MethodNotAllowed           405  an HTTP method other than POST (or GET, for the page)
    ├── ImageTooLarge              413  body or pixel count over the limit
    ├── NotAnImage                 422  content that is not a decodable image
    ├── UpstreamError              502  the image host failed or answered an error
    └── UpstreamTimeout            504  the image host was too slow
"""


class ClothingError(Exception):
    """Base of every error this function reports to its caller."""

    status = 500
    error_type = "InternalError"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ClothingError):
    status = 400
    error_type = "BadRequest"


class UnsupportedScheme(BadRequest):
    error_type = "UnsupportedScheme"


class UrlRefused(ClothingError):
    status = 403
    error_type = "UrlRefused"


class NotFound(ClothingError):
    status = 404
    error_type = "NotFound"


class MethodNotAllowed(ClothingError):
    status = 405
    error_type = "MethodNotAllowed"


class ImageTooLarge(ClothingError):
    status = 413
    error_type = "ImageTooLarge"


class NotAnImage(ClothingError):
    status = 422
    error_type = "NotAnImage"


class UpstreamError(ClothingError):
    status = 502
    error_type = "UpstreamError"


class UpstreamTimeout(ClothingError):
    status = 504
    error_type = "UpstreamTimeout"
