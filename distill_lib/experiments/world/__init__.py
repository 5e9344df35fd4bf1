"""The world step: the teacher, the state buffer and the student's starting point, made once per study."""

from .experiment import EXPERIMENT, WorldRecord, load_world
from .figures import action_gaps, teacher_overview

__all__ = ["EXPERIMENT", "WorldRecord", "action_gaps", "load_world", "teacher_overview"]
