"""The accuracy check of 05_training: the student's `train` trains a LeNet on a
grader-chosen subset, and the grader measures the trained weights on held-out images
(measure.py); `autograder calibrate` sets the pass mark from the reference solution
(calibration.py). The datasets are autograder/data.py's.
"""
from autograder.accuracy.measure import (CALIBRATION_SCHEMA, AccuracyResult, CalibrationError, load_calibration,
                                         measure_accuracy, train_and_measure)

__all__ = ["CALIBRATION_SCHEMA", "AccuracyResult", "CalibrationError", "load_calibration", "measure_accuracy",
           "train_and_measure"]
