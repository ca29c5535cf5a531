"""The line of every field of a calendar file, so an import error can say where to look."""

from __future__ import annotations

from engine.calendar.json_lines import field_lines

TEXT = """{
 "schema": 1,
 "covered_years": [2027,
   2028],
 "segments": {"FO": {"timetable_changes": [
   {"from": "2027-04-01",
    "close": "15:45"}]}},
 "holidays": [
  {"date": "2027-01-26", "name": "Republic Day"},
  {"date": "2027-02-30",
   "name": "Holi \\"date\\" [1]"}
 ],
 "empty": {}, "none": []
}"""


def test_calendar_field_lines_when_json_is_valid_name_every_member_and_element():
    found = field_lines(TEXT)

    assert found.lines["schema"] == 2
    assert found.lines["covered_years[0]"] == 3
    assert found.lines["covered_years[1]"] == 4
    assert found.lines["segments.FO.timetable_changes[0].close"] == 7
    assert found.lines["holidays[1]"] == 10
    assert found.lines["holidays[1].name"] == 11  # a key inside a string value is no key
    assert found.lines["empty"] == found.lines["none"] == 13
    assert found.repeated is None


def test_calendar_field_lines_when_a_path_is_no_index_fall_back_to_the_enclosing_field():
    found = field_lines(TEXT)

    assert found.line_of("segments.FO.timetable_changes[from=2027-04-01]") == 5
    assert found.line_of("(top level)") is None


def test_calendar_field_lines_when_a_key_repeats_name_the_second():
    found = field_lines('{"a": 1,\n "b": {"c": 1,\n  "c": 2}}')

    assert found.repeated == ("b.c", 3)


def test_calendar_field_lines_when_text_is_not_json_keep_what_came_before():
    found = field_lines('{"schema": 1,\n "holidays": [}')

    assert found.lines["schema"] == 1
    assert found.line_of("holidays[0]") == 2
