"""A lesson that follows another (06b after 06) is found, ordered and selectable like the numbered ones."""
from __future__ import annotations

import pytest

from tools import executed, site


def test_lessons_include_a_lettered_lesson_right_after_its_number():
    names = [p.name for p in executed.lessons()]
    assert "06b_report_architectures.ipynb" in names
    assert names.index("06b_report_architectures.ipynb") == names.index("06_unet_variants.ipynb") + 1
    assert names == sorted(names)


def test_site_selects_lessons_by_number_or_by_full_prefix():
    lessons = executed.lessons()
    both = ["06_unet_variants.ipynb", "06b_report_architectures.ipynb"]
    assert [p.name for p in site.select(lessons, ["06"])] == both
    assert [p.name for p in site.select(lessons, ["06b"])] == ["06b_report_architectures.ipynb"]
    assert site.select(lessons, None) == lessons
    with pytest.raises(SystemExit, match="no lesson numbered 6c"):
        site.select(lessons, ["6c"])
