"""Check characters and formats of Chinese identifiers: the unified social credit code
(统一社会信用代码, GB 32100-2015), the resident identity number (公民身份号码, GB 11643-1999)
and administrative division codes (行政区划代码, GB/T 2260)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# ASCII only: \d alone would also match other scripts' digits.
_CREDIT_CODE_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", re.ASCII)

_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_RESIDENT_ID_SHAPE = re.compile(r"\d{17}[0-9X]", re.ASCII)

# Provincial-level divisions of GB/T 2260 (the first two digits of every division code).
PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}

# Registered by a national authority (e.g. 国家市场监督管理总局): the credit code carries this
# division code instead of a province's, as the Bank of China's 911000001000013428 does.
NATIONAL_REGISTRATION = "100000"

_PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}", re.ASCII)


@dataclass(frozen=True)
class Problem:
    """Why a value is not valid: its stable reason (what a client words it by), in English, and
    the values its words need."""

    reason: str
    description: str
    metadata: Mapping[str, object] = field(default_factory=dict)


def credit_code_check_char(first17: str) -> str:
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> Problem | None:
    """Why `code` is not a valid unified social credit code, or None when it is."""
    if len(code) != 18:
        return Problem("CREDIT_CODE_LENGTH", "must be 18 characters")
    if not _CREDIT_CODE_SHAPE.fullmatch(code):
        return Problem("CREDIT_CODE_CHARACTERS",
                       "has a character outside GB 32100 (digits and capitals without I, O, S, V, Z)")
    if code[2:4] not in PROVINCES and code[2:8] != NATIONAL_REGISTRATION:
        return Problem("CREDIT_CODE_REGION", "carries an unknown region code")
    if credit_code_check_char(code[:17]) != code[17]:
        return Problem("CREDIT_CODE_CHECK", "check character does not match (GB 32100)")
    return None


def resident_id_check_char(first17: str) -> str:
    return _RESIDENT_ID_CHECK[sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS)) % 11]


def resident_id_problem(number: str) -> Problem | None:
    if not _RESIDENT_ID_SHAPE.fullmatch(number):
        return Problem("RESIDENT_ID_SHAPE", "must be 17 digits and a check digit or X")
    if number[:2] not in PROVINCES:
        return Problem("RESIDENT_ID_REGION", "carries an unknown region code")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return Problem("RESIDENT_ID_BIRTH_DATE", "carries an impossible birth date")
    if resident_id_check_char(number[:17]) != number[17]:
        return Problem("RESIDENT_ID_CHECK", "check digit does not match (GB 11643)")
    return None


def region_code_problem(code: str) -> Problem | None:
    if not re.fullmatch(r"\d{6}", code, re.ASCII):
        return Problem("REGION_CODE_SHAPE", "must be six digits (GB/T 2260)")
    if code[:2] not in PROVINCES:
        return Problem("REGION_CODE_PROVINCE", "names no known province")
    return None


def phone_problem(phone: str) -> Problem | None:
    if _PHONE.fullmatch(phone):
        return None
    return Problem("PHONE_FORMAT", "must be a mobile (1xxxxxxxxxx) or landline (0xx-xxxxxxxx) number")


def date_problem(text: str) -> Problem | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):
        return Problem("DATE_FORMAT", "must be a date YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        return Problem("DATE_NOT_IN_CALENDAR", "is not a calendar date")
    return None

