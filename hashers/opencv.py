"""OpenCV, imported once with its logging quietened.

FFmpeg and OpenCV would otherwise print a line to stderr for every damaged
upload; those failures reach callers as MediaError instead. An operator's own
OPENCV_* settings win.
"""

import os

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2

__all__ = ["cv2"]
