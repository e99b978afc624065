"""OpenCV, imported once with its logging quietened.

OpenCV would otherwise print a line to stderr for damaged uploads; those
failures reach callers as MediaError instead. An operator's own
OPENCV_LOG_LEVEL wins.
"""

import os

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2

__all__ = ["cv2"]
