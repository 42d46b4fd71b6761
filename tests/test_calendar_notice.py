"""Reading the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) into a
schedule file: the notices of past years, in their published wording, must give exactly the
working days chinesecalendar 1.11.0 records for those years; a damaged notice is refused, naming
its line; `ipss calendar import` prints what it read, writes the file, or exits 2 writing nothing.

Three years were changed after their notice by a later one, which chinesecalendar records and the
yearly notice cannot (2015's 70th anniversary holiday, 2019's longer May Day, 2020's longer Spring
Festival): LATER_NOTICES lists the days those covered, with their status by the yearly notice."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from chinese_calendar import constants as package_data

from rules.notice import NoticeError, read_notice, write_calendar_file
from rules.workdays import CALENDAR_DIR_ENV, CalendarError, WorkingDayCalendar
from launcher.cli import main

D = date.fromisoformat

NOTICE_2026 = """国务院办公厅关于2026年部分节假日安排的通知
国办发明电〔2025〕7号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2026年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
　　一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
　　二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
　　三、清明节：4月4日（周六）至6日（周一）放假，共3天。
　　四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
　　五、端午节：6月19日（周五）至21日（周日）放假，共3天。
　　六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
　　七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2025年11月4日
"""

NOTICE_2025 = """国务院办公厅关于2025年部分节假日安排的通知
国办发明电〔2024〕12号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　根据《国务院关于修改〈全国年节及纪念日放假办法〉的决定》，为便于各地区、各部门及早合理安排节假日旅游、交通运输、生产经营等有关工作，
经国务院批准，现将2025年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
　　一、元旦：1月1日（周三）放假1天，不调休。
　　二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
　　三、清明节：4月4日（周五）至6日（周日）放假，共3天。
　　四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
　　五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
　　六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫、疫情防控等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2024年11月12日
"""

NOTICE_2024 = """国务院办公厅关于2024年部分节假日安排的通知
国办发明电〔2023〕7号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2024年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
　　一、元旦：1月1日放假，与周末连休。
　　二、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。
　　三、清明节：4月4日至6日放假调休，共3天。4月7日（星期日）上班。
　　四、劳动节：5月1日至5日放假调休，共5天。4月28日（星期日）、5月11日（星期六）上班。
　　五、端午节：6月10日与周末连休。
　　六、中秋节：9月15日至17日放假调休，共3天。9月14日（星期六）上班。
　　七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫、疫情防控等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2023年10月25日
"""

NOTICE_2020 = """国务院办公厅关于2020年部分节假日安排的通知
国办发明电〔2019〕16号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2020年元旦、春节、清明节、劳动节、端午节、国庆节和中秋节放假调休日期的具体安排通知如下。
　　一、元旦：2020年1月1日放假，共1天。
　　二、春节：1月24日至30日放假调休，共7天。1月19日（星期日）、2月1日（星期六）上班。
　　三、清明节：4月4日至6日放假，共3天。
　　四、劳动节：5月1日至5日放假调休，共5天。4月26日（星期日）、5月9日（星期六）上班。
　　五、端午节：6月25日至27日放假调休，共3天。6月28日（星期日）上班。
　　六、国庆节、中秋节：10月1日至8日放假调休，共8天。9月27日（星期日）、10月10日（星期六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2019年11月21日
"""

NOTICE_2019 = """国务院办公厅关于2019年部分节假日安排的通知
国办发明电〔2018〕15号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2019年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
　　一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。
　　二、春节：2月4日至10日放假调休，共7天。2月2日（星期六）、2月3日（星期日）上班。
　　三、清明节：4月5日放假，与周末连休。
　　四、劳动节：5月1日放假。
　　五、端午节：6月7日放假，与周末连休。
　　六、中秋节：9月13日放假，与周末连休。
　　七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2018年12月6日
"""

NOTICE_2015 = """国务院办公厅关于2015年部分节假日安排的通知
国办发明电〔2014〕28号
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2015年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下：
　　一、元旦：1月1日至3日放假调休，共3天。1月4日（星期日）上班。
　　二、春节：2月18日至24日放假调休，共7天。2月15日（星期日）、2月28日（星期六）上班。
　　三、清明节：4月5日放假，4月6日（星期一）补休。
　　四、劳动节：5月1日放假，与周末连休。
　　五、端午节：6月20日放假，6月22日（星期一）补休。
　　六、中秋节：9月27日放假。
　　七、国庆节：10月1日至7日放假调休，共7天。10月10日（星期六）上班。
　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。
国务院办公厅
2014年12月16日
"""

NOTICES = {2026: NOTICE_2026, 2025: NOTICE_2025, 2024: NOTICE_2024, 2020: NOTICE_2020, 2019: NOTICE_2019,
           2015: NOTICE_2015}

# The days a later notice covered, each with its status by the yearly notice (True: a working day).
LATER_NOTICES = {
    # 国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知: 9-03..9-05 off, Sun 9-06 worked
    2015: {D("2015-09-03"): True, D("2015-09-04"): True, D("2015-09-06"): False},
    # 国务院办公厅关于调整2019年劳动节假期安排的通知: 5-01..5-04 off, Sun 4-28 and Sun 5-05 worked
    2019: {D("2019-04-28"): False, D("2019-05-02"): True, D("2019-05-03"): True, D("2019-05-04"): False,
           D("2019-05-05"): False},
    # 国务院办公厅关于延长2020年春节假期的通知: off until Sun 2-02, Sat 2-01 no longer worked
    2020: {D("2020-01-31"): True, D("2020-02-01"): True, D("2020-02-02"): False},
}


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=k) for k in range((date(year + 1, 1, 1) - first).days)]


def package_days(days, year: int) -> set[date]:
    return {day for day in days if day.year == year}


def line_of(text: str, fragment: str) -> tuple[int, str]:
    """The number and stripped text of the one line holding `fragment`."""
    found = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(found) == 1, fragment
    return found[0]


def damaged(old: str, new: str, text: str = NOTICE_2026) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("year", sorted(NOTICES))
def test_a_past_notice_gives_the_year_chinesecalendar_records(year, tmp_path):
    reading = read_notice(NOTICES[year])
    changed = LATER_NOTICES.get(year, {})
    assert set(changed) <= package_days({**package_data.holidays, **package_data.workdays}, year)
    assert changed == {} or any(chinese_calendar.is_workday(day) != working for day, working in changed.items())

    package_rest = package_days(package_data.holidays, year) - set(changed)
    rest = {day for day in reading.rest_days if day.year == year} - set(changed)
    assert package_rest <= rest  # the package lists weekend days within a block only sometimes
    assert {day for day in rest if day.weekday() < 5} == {day for day in package_rest if day.weekday() < 5}
    assert package_days(reading.workdays, year) - set(changed) == package_days(package_data.workdays, year) - set(
        changed)
    for day in reading.other_years_days:  # 12-30 before 元旦: as the package has it in its own year
        assert chinese_calendar.is_workday(day) == (day in reading.workdays)

    written = write_calendar_file(reading, tmp_path)
    assert written == tmp_path / f"{year}.yaml"
    calendar = WorkingDayCalendar.load([tmp_path])
    assert calendar.schedules[year].source == f"{reading.source} — {written}"
    wrong = [(day, calendar.is_working_day(day)) for day in days_of(year)
             if calendar.is_working_day(day) != changed.get(day, chinese_calendar.is_workday(day))]
    assert wrong == []


def test_the_2026_notice_item_by_item():
    reading = read_notice(NOTICE_2026)
    assert reading.year == 2026
    assert reading.source == "国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）"
    assert [item.summary() for item in reading.items] == [
        "元旦 2026-01-01..2026-01-03 休 3天；上班 2026-01-04",
        "春节 2026-02-15..2026-02-23 休 9天；上班 2026-02-14、2026-02-28",
        "清明节 2026-04-04..2026-04-06 休 3天",
        "劳动节 2026-05-01..2026-05-05 休 5天；上班 2026-05-09",
        "端午节 2026-06-19..2026-06-21 休 3天",
        "中秋节 2026-09-25..2026-09-27 休 3天",
        "国庆节 2026-10-01..2026-10-07 休 7天；上班 2026-09-20、2026-10-10",
    ]
    spring = reading.items[1]
    assert (spring.festivals, spring.declared_total, spring.line_number) == (("春节",), 9, 6)
    assert spring.line.startswith("二、春节：2月15日（农历腊月二十八、周日）")
    assert reading.workdays == {D("2026-01-04"), D("2026-02-14"), D("2026-02-28"), D("2026-05-09"),
                                D("2026-09-20"), D("2026-10-10")}
    assert len(reading.rest_days) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert reading.schedule_data() == {
        "source": reading.source,
        "holidays": ["2026-01-01..2026-01-03", "2026-02-15..2026-02-23", "2026-04-04..2026-04-06",
                     "2026-05-01..2026-05-05", "2026-06-19..2026-06-21", "2026-09-25..2026-09-27",
                     "2026-10-01..2026-10-07"],
        "workdays": sorted(reading.workdays),
    }


def test_one_item_for_two_festivals_and_a_range_across_a_month():
    reading = read_notice(NOTICE_2025)
    dragon_boat, national_day = reading.items[4], reading.items[5]
    assert dragon_boat.rest_days == (D("2025-05-31"), D("2025-06-01"), D("2025-06-02"))
    assert national_day.festivals == ("国庆节", "中秋节") and national_day.declared_total == 8
    assert D("2025-10-06") in national_day.rest_days  # 中秋节 by law, inside the joint item
    spring = reading.items[1]
    assert (spring.rest_days[0], spring.rest_days[-1]) == (D("2025-01-28"), D("2025-02-04"))
    assert reading.items[0].summary() == "元旦 2025-01-01 休 1天"


def test_a_range_across_a_month_without_weekdays():
    reading = read_notice(damaged("七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。",
                                  "七、国庆节：9月30日至10月7日放假调休，共8天。"))
    assert reading.items[6].rest_days == tuple(D("2026-09-30") + timedelta(days=k) for k in range(8))


def test_with_the_weekend_rests_the_saturday_and_sunday_next_to_the_day():
    reading = read_notice(damaged("六、中秋节：9月25日（周五）至27日（周日）放假，共3天。",
                                  "六、中秋节：9月25日（周五）放假，与周末连休。"))
    assert reading.items[5].rest_days == (D("2026-09-25"), D("2026-09-26"), D("2026-09-27"))
    counted = read_notice(damaged("六、中秋节：9月25日（周五）至27日（周日）放假，共3天。",
                                  "六、中秋节：9月25日（周五）放假，与周末连休，共3天。"))
    assert counted.items[5].declared_total == 3
    may_day = read_notice(NOTICE_2015).items[3]
    assert may_day.rest_days == (D("2015-05-01"), D("2015-05-02"), D("2015-05-03"))
    dragon_boat = read_notice(NOTICE_2024).items[4]  # 6月10日与周末连休: a Monday, the weekend before it
    assert dragon_boat.rest_days == (D("2024-06-08"), D("2024-06-09"), D("2024-06-10"))


def test_days_of_the_year_before_are_read_but_left_to_that_year(tmp_path):
    reading = read_notice(NOTICE_2024)  # 1月1日放假，与周末连休: Saturday and Sunday are in 2023
    assert reading.items[0].rest_days == (D("2023-12-30"), D("2023-12-31"), D("2024-01-01"))
    assert reading.other_years_days == (D("2023-12-30"), D("2023-12-31"))
    assert reading.schedule_data()["holidays"][0] == D("2024-01-01")
    text = write_calendar_file(reading, tmp_path).read_text(encoding="utf-8")
    assert "2023-12-30 休、2023-12-31 休" in text.splitlines()[2] and text.startswith("# ")

    explicit = read_notice(NOTICE_2019)  # 2018年12月30日至2019年1月1日 … 2018年12月29日（星期六）上班
    assert explicit.other_years_days == (D("2018-12-29"), D("2018-12-30"), D("2018-12-31"))
    assert explicit.other_years_summary == "2018-12-29 上班、2018-12-30 休、2018-12-31 休"
    assert all(day.year == 2019 for day in explicit.schedule_data()["workdays"])
    undated = read_notice(damaged("一、元旦：2018年12月30日至2019年1月1日", "一、元旦：12月30日至1月1日", NOTICE_2019))
    assert undated.items[0].rest_days == explicit.items[0].rest_days


def test_an_encouragement_changes_no_day():
    spring = read_notice(NOTICE_2024).items[1]
    assert D("2024-02-09") not in spring.rest_days  # 鼓励…安排职工在除夕（2月9日）休息
    assert spring.notes == ("鼓励各单位结合带薪年休假等制度落实,安排职工在除夕(2月9日)休息",)
    assert "；注：鼓励各单位" in spring.summary()


def test_half_width_digits_and_punctuation_read_the_same():
    half = NOTICE_2026.translate(str.maketrans("：，（）", ":,()"))
    full_digits = NOTICE_2026.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    expected = read_notice(NOTICE_2026)
    for text in (half, full_digits, "\ufeff" + NOTICE_2026.replace("\n", "\r\n")):
        reading = read_notice(text)
        assert (reading.source, reading.rest_days, reading.workdays) == (expected.source, expected.rest_days,
                                                                         expected.workdays)


def test_single_days_in_their_usual_wordings():
    for wording in ("一、元旦：1月1日放假，共1天。", "一、元旦：1月1日（星期四）放假1天，不调休。", "一、元旦：1月1日放假。"):
        text = damaged("一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。", wording)
        assert read_notice(text).items[0].rest_days == (D("2026-01-01"),)


def test_the_year_comes_from_the_title_or_else_the_argument():
    untitled = NOTICE_2026.split("\n", 2)[2]  # without the title and the document number
    reading = read_notice(untitled, year=2026)
    assert reading.year == 2026 and "2026" in reading.source and "未含标题" in reading.source
    assert reading.rest_days == read_notice(NOTICE_2026).rest_days
    with pytest.raises(NoticeError) as refused:
        read_notice(untitled)
    assert (refused.value.line_number, "没有指定年份" in refused.value.reason) == (1, True)
    with pytest.raises(NoticeError) as refused:
        read_notice(NOTICE_2026, year=2027)
    assert refused.value.line_number == 1 and "2027" in refused.value.reason


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "三、清明节：4月4日（周六）到6日放假，共3天。", "无法识别"),
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "三、清明节：4月4日（周六）至6日（周一）放假，共三天。", "无法识别：共三天"),
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "三、清明节4月4日至6日放假，共3天。", "无法识别"),
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "三、清明节：4月4日（周六）至6日（周一）放假，共4天。",
     "写明共4天，所列放假日期为3天"),
    ("2月28日（周六）上班", "2月27日（周五）上班", "调休上班日2026年2月27日是周五，不是周六或周日"),
    ("2月28日（周六）上班", "2月28日（周日）上班", "2026年2月28日是周六，通知写作周日"),
    ("至23日（农历正月初七、周一）", "至23日（农历正月初七、周二）", "通知写作周二"),
    ("2月14日（周六）、2月28日（周六）上班", "2月14日（周六）、2月22日（周日）上班", "2026年2月22日既是放假日又是上班日"),
    ("四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。", "四、劳动节：5月1日（周五）放假。",
     "劳动节的法定假日2026年5月2日（周六）不在放假日期内"),
    ("三、清明节：4月4日（周六）至6日（周一）放假，共3天。", "五、清明节：4月4日（周六）至6日（周一）放假，共3天。",
     "序号为五，按顺序应为三"),
    ("六、中秋节：9月25日（周五）至27日（周日）放假，共3天。", "六、中秋节：9月30日（周三）放假，与周末连休。", "不与周末相邻"),
    ("六、中秋节：9月25日（周五）至27日（周日）放假，共3天。", "六、中秋节：9月25日（周五）至31日放假。", "日期不存在"),
])
def test_a_damaged_item_is_refused_naming_its_line(old, new, reason):
    text = damaged(old, new)
    with pytest.raises(NoticeError) as refused:
        read_notice(text)
    assert (refused.value.line_number, refused.value.line) == line_of(text, new)
    assert reason in refused.value.reason
    assert str(refused.value) == f"第{refused.value.line_number}行: {refused.value.line}: {refused.value.reason}"


def test_a_missing_festival_is_refused_naming_the_title():
    text = damaged("　　六、中秋节：9月25日（周五）至27日（周日）放假，共3天。\n", "").replace("七、国庆节", "六、国庆节")
    with pytest.raises(NoticeError) as refused:
        read_notice(text)
    assert (refused.value.line_number, refused.value.line) == (1, "国务院办公厅关于2026年部分节假日安排的通知")
    assert refused.value.reason == "通知缺少法定节日中秋节（法定假日 2026-09-25）"


def test_an_item_broken_over_two_lines_is_refused_at_the_loose_half():
    text = damaged("共9天。2月14日（周六）", "共9天。\n2月14日（周六）")
    with pytest.raises(NoticeError) as refused:
        read_notice(text)
    assert (refused.value.line_number, refused.value.line) == line_of(text, "2月14日（周六）、2月28日")
    assert "没有序号" in refused.value.reason


def test_the_file_is_written_beside_its_notice_and_not_overwritten_by_another(tmp_path):
    reading = read_notice(NOTICE_2026)
    written = write_calendar_file(reading, tmp_path)
    notice = tmp_path / "2026.notice.txt"
    assert notice.read_text(encoding="utf-8") == NOTICE_2026
    assert "国办发明电〔2025〕7号" in written.read_text(encoding="utf-8")
    assert write_calendar_file(reading, tmp_path) == written  # the same reading again: nothing changes

    other = read_notice(damaged("10月10日（周六）上班", "10月11日（周日）上班"))
    with pytest.raises(FileExistsError, match="--replace"):
        write_calendar_file(other, tmp_path)
    assert notice.read_text(encoding="utf-8") == NOTICE_2026
    write_calendar_file(other, tmp_path, replace=True)
    assert D("2026-10-11") in WorkingDayCalendar.load([tmp_path]).schedules[2026].workdays
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2026.notice.txt", "2026.yaml"]

    with pytest.raises(CalendarError, match="does not exist"):
        write_calendar_file(reading, tmp_path / "missing")


def notice_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notice.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_import_prints_what_it_read_and_writes_the_file(tmp_path, capsys):
    target = tmp_path / "calendar"
    target.mkdir()
    assert main(["calendar", "import", str(notice_file(tmp_path, NOTICE_2024)), "--dir", str(target)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号）"
    assert "元旦 2023-12-30..2024-01-01 休 3天" in out
    assert "春节 2024-02-10..2024-02-17 休 8天；上班 2024-02-04、2024-02-18；注：鼓励各单位结合带薪年休假等制度落实," \
           "安排职工在除夕(2月9日)休息（不改变工作日）" in out
    assert sum(line.startswith("核对通过：") for line in out) == 4
    assert "2024年以外的日期不写入2024.yaml（归其所属年份）：2023-12-30 休、2023-12-31 休" in out
    assert out[-1] == f"已写入 {target / '2024.yaml'}（原文 {target / '2024.notice.txt'}）"
    assert WorkingDayCalendar.load([target]).schedules[2024].source.startswith("国务院办公厅关于2024年")


def test_cli_import_dry_run_writes_nothing_and_the_default_is_the_configured_directory(tmp_path, capsys,
                                                                                        monkeypatch):
    target = tmp_path / "calendar"
    target.mkdir()
    monkeypatch.setenv(CALENDAR_DIR_ENV, str(target))
    notice = notice_file(tmp_path, NOTICE_2026)
    assert main(["calendar", "import", str(notice), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "--dry-run：未写入文件"
    assert list(target.iterdir()) == []
    assert main(["calendar", "import", str(notice)]) == 0
    assert (target / "2026.yaml").is_file()
    capsys.readouterr()
    assert main(["calendar", "add", "2026-09-30", "1"]) == 0  # the other subcommands read the written file
    assert capsys.readouterr().out == "2026-10-08\n"


def test_cli_import_refuses_a_damaged_notice_writing_nothing(tmp_path, capsys):
    target = tmp_path / "calendar"
    target.mkdir()
    text = damaged("1月4日（周日）上班", "1月5日（周一）上班")
    assert main(["calendar", "import", str(notice_file(tmp_path, text)), "--dir", str(target)]) == 2
    captured = capsys.readouterr()
    number, line = line_of(text, "1月5日（周一）上班")
    assert captured.out == ""
    assert captured.err == f"ipss calendar import: 第{number}行: {line}: 调休上班日2026年1月5日是周一，不是周六或周日\n"
    assert list(target.iterdir()) == []


def test_cli_import_keeps_a_different_file_unless_told_to_replace_it(tmp_path, capsys):
    target = tmp_path / "calendar"
    target.mkdir()
    (target / "2026.yaml").write_text("holidays: [2026-10-01]\nworkdays: []\nsource: by hand\n", encoding="utf-8")
    notice = str(notice_file(tmp_path, NOTICE_2026))
    assert main(["calendar", "import", notice, "--dir", str(target)]) == 2
    assert "--replace" in capsys.readouterr().err
    assert (target / "2026.yaml").read_text(encoding="utf-8").endswith("source: by hand\n")
    assert main(["calendar", "import", notice, "--dir", str(target), "--replace"]) == 0
    assert len(WorkingDayCalendar.load([target]).schedules[2026].holidays) == 33
