"""Realistic, valid registry data at scale (演示与压测数据): agencies of every kind with credit
codes, licence or filing numbers, shareholders, branches and status histories; practitioners
with resident identity numbers, certificates and practice filings (moves included); annual
reports; credit events with their publicity periods; industry associations and their members.
The same seed and day give the same data.

Rows are bulk-loaded in one transaction (PostgreSQL COPY, SQLite executemany), never one RPC
per row, into a registry migrated to head and still empty."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import accumulate

import sqlalchemy
from sqlalchemy import func, select

from rules import Period, Rules, WorkingDayCalendar
from services.registry import store
from suite import clock, db
from suite.codes import credit_code_check_char, resident_id_check_char

# ---- reference data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A real GB/T 2260 division: prefecture-level cities, and districts of the municipalities."""

    code: str
    short: str  # as it begins an agency name
    full: str  # as it begins an address
    area_code: str  # landline prefix
    weight: float  # share of the country's IP service agencies, roughly


REGIONS = tuple(Region(*row) for row in (
    ("110101", "北京", "北京市东城区", "010", 2.0), ("110102", "北京", "北京市西城区", "010", 2.5),
    ("110105", "北京", "北京市朝阳区", "010", 5.0), ("110106", "北京", "北京市丰台区", "010", 1.5),
    ("110108", "北京", "北京市海淀区", "010", 7.0), ("110112", "北京", "北京市通州区", "010", 0.8),
    ("110114", "北京", "北京市昌平区", "010", 0.8), ("120101", "天津", "天津市和平区", "022", 0.6),
    ("120104", "天津", "天津市南开区", "022", 0.6), ("120116", "天津", "天津市滨海新区", "022", 0.8),
    ("130100", "石家庄", "河北省石家庄市", "0311", 1.0), ("130200", "唐山", "河北省唐山市", "0315", 0.4),
    ("130600", "保定", "河北省保定市", "0312", 0.4), ("131000", "廊坊", "河北省廊坊市", "0316", 0.3),
    ("140100", "太原", "山西省太原市", "0351", 0.6), ("150100", "呼和浩特", "内蒙古自治区呼和浩特市", "0471", 0.3),
    ("150200", "包头", "内蒙古自治区包头市", "0472", 0.2), ("210100", "沈阳", "辽宁省沈阳市", "024", 1.0),
    ("210200", "大连", "辽宁省大连市", "0411", 0.8), ("220100", "长春", "吉林省长春市", "0431", 0.7),
    ("230100", "哈尔滨", "黑龙江省哈尔滨市", "0451", 0.7), ("310101", "上海", "上海市黄浦区", "021", 1.5),
    ("310104", "上海", "上海市徐汇区", "021", 1.5), ("310105", "上海", "上海市长宁区", "021", 1.0),
    ("310106", "上海", "上海市静安区", "021", 1.5), ("310112", "上海", "上海市闵行区", "021", 1.2),
    ("310115", "上海", "上海市浦东新区", "021", 3.0), ("320100", "南京", "江苏省南京市", "025", 2.5),
    ("320200", "无锡", "江苏省无锡市", "0510", 1.0), ("320300", "徐州", "江苏省徐州市", "0516", 0.5),
    ("320400", "常州", "江苏省常州市", "0519", 0.8), ("320500", "苏州", "江苏省苏州市", "0512", 2.5),
    ("320600", "南通", "江苏省南通市", "0513", 0.6), ("321000", "扬州", "江苏省扬州市", "0514", 0.4),
    ("330100", "杭州", "浙江省杭州市", "0571", 3.5), ("330200", "宁波", "浙江省宁波市", "0574", 1.5),
    ("330300", "温州", "浙江省温州市", "0577", 1.2), ("330400", "嘉兴", "浙江省嘉兴市", "0573", 0.5),
    ("330600", "绍兴", "浙江省绍兴市", "0575", 0.5), ("330700", "金华", "浙江省金华市", "0579", 0.8),
    ("331000", "台州", "浙江省台州市", "0576", 0.6), ("340100", "合肥", "安徽省合肥市", "0551", 1.5),
    ("340200", "芜湖", "安徽省芜湖市", "0553", 0.3), ("350100", "福州", "福建省福州市", "0591", 1.0),
    ("350200", "厦门", "福建省厦门市", "0592", 1.0), ("350500", "泉州", "福建省泉州市", "0595", 1.0),
    ("360100", "南昌", "江西省南昌市", "0791", 0.7), ("370100", "济南", "山东省济南市", "0531", 1.5),
    ("370200", "青岛", "山东省青岛市", "0532", 1.5), ("370600", "烟台", "山东省烟台市", "0535", 0.4),
    ("370700", "潍坊", "山东省潍坊市", "0536", 0.4), ("410100", "郑州", "河南省郑州市", "0371", 2.0),
    ("410300", "洛阳", "河南省洛阳市", "0379", 0.3), ("420100", "武汉", "湖北省武汉市", "027", 2.0),
    ("420500", "宜昌", "湖北省宜昌市", "0717", 0.2), ("420600", "襄阳", "湖北省襄阳市", "0710", 0.2),
    ("430100", "长沙", "湖南省长沙市", "0731", 1.5), ("440100", "广州", "广东省广州市", "020", 5.0),
    ("440300", "深圳", "广东省深圳市", "0755", 6.0), ("440400", "珠海", "广东省珠海市", "0756", 0.5),
    ("440500", "汕头", "广东省汕头市", "0754", 0.4), ("440600", "佛山", "广东省佛山市", "0757", 1.2),
    ("441300", "惠州", "广东省惠州市", "0752", 0.4), ("441900", "东莞", "广东省东莞市", "0769", 1.2),
    ("442000", "中山", "广东省中山市", "0760", 0.6), ("450100", "南宁", "广西壮族自治区南宁市", "0771", 0.7),
    ("460100", "海口", "海南省海口市", "0898", 0.4), ("500103", "重庆", "重庆市渝中区", "023", 0.8),
    ("500105", "重庆", "重庆市江北区", "023", 0.6), ("500112", "重庆", "重庆市渝北区", "023", 0.8),
    ("510100", "成都", "四川省成都市", "028", 2.5), ("510700", "绵阳", "四川省绵阳市", "0816", 0.2),
    ("520100", "贵阳", "贵州省贵阳市", "0851", 0.5), ("530100", "昆明", "云南省昆明市", "0871", 0.6),
    ("540100", "拉萨", "西藏自治区拉萨市", "0891", 0.05), ("610100", "西安", "陕西省西安市", "029", 1.5),
    ("620100", "兰州", "甘肃省兰州市", "0931", 0.4), ("630100", "西宁", "青海省西宁市", "0971", 0.1),
    ("640100", "银川", "宁夏回族自治区银川市", "0951", 0.15), ("650100", "乌鲁木齐", "新疆维吾尔自治区乌鲁木齐市", "0991", 0.3),
))

# The trade name (字号) is two characters, one from each list, or three when two are taken.
TRADE_NAME_FIRST = "知智华中金正信恒瑞博汇科创德诚明天鼎君卓安永新同方宏嘉睿远泰盛聚海航思凯立维元昊宇辰星光合众益和润丰隆佳美优尚越达通联成春秋东南北高长云青"
TRADE_NAME_SECOND = "远达信诚华泰恒通源昌盛鑫隆瑞祥发凯利邦驰航宇辰博睿思哲明德仁义智慧锐捷帆舟桥岳峰川海湖林森文理衡平和杰英豪俊彦朗晟昱弘毅"

# Agency kinds with their share of agencies, legal forms (with shares) and name endings.
KINDS: dict[str, tuple[float, dict[str, tuple[float, tuple[str, ...]]]]] = {
    "patent": (0.30, {  # 专利代理机构: a partnership or a limited company only (seed (十五))
        "partnership": (0.45, ("专利代理事务所（普通合伙）", "专利代理事务所（特殊普通合伙）",
                               "知识产权代理事务所（普通合伙）")),
        "limited_company": (0.55, ("专利代理有限公司", "知识产权代理有限公司", "专利商标代理有限公司")),
    }),
    "trademark": (0.45, {
        "limited_company": (0.85, ("商标代理有限公司", "知识产权代理有限公司", "商标事务所有限公司",
                                   "知识产权服务有限公司")),
        "sole_proprietorship": (0.10, ("商标事务所", "商标代理服务中心")),
        "partnership": (0.05, ("商标代理事务所（普通合伙）",)),
    }),
    "copyright": (0.05, {"limited_company": (1.0, ("版权代理有限公司", "版权服务有限公司"))}),
    "legal": (0.05, {"partnership": (1.0, ("律师事务所",))}),
    "operation": (0.04, {
        "limited_company": (0.8, ("知识产权运营有限公司", "技术转移有限公司")),
        "joint_stock_company": (0.2, ("知识产权运营股份有限公司", "科技成果转化股份有限公司")),
    }),
    "information": (0.03, {"limited_company": (1.0, ("知识产权信息服务有限公司", "专利信息咨询有限公司"))}),
    "consulting": (0.06, {
        "limited_company": (0.85, ("知识产权咨询有限公司", "企业管理咨询有限公司")),
        "sole_proprietorship": (0.10, ("知识产权咨询服务部",)),
        "other": (0.05, ("知识产权促进中心",)),
    }),
    "evaluation": (0.02, {
        "limited_company": (0.8, ("资产评估有限公司", "知识产权评估有限公司")),
        "joint_stock_company": (0.2, ("资产评估股份有限公司",)),
    }),
}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳志峰建国文博亮晨轩然哲"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲燕倩婷雪慧琳颖洁晶蕾欣怡悦萍红梅琴云莉佳丹璐彤瑶妍"
ROADS = ("知春路", "中关村大街", "学院路", "科技园路", "人民路", "解放路", "建设路", "中山路", "长江路", "黄河路",
         "创新大道", "高新大道", "文化路", "金融街", "世纪大道", "南京路", "延安路", "深南大道", "天府大道", "解放大道")

PRACTITIONER_KINDS = {"patent_attorney": 0.30, "trademark_agent": 0.50, "litigation_staff": 0.08, "other": 0.12}
# Where each kind of practitioner files practice: agency kind and how strongly it draws them.
EMPLOYERS = {
    "patent_attorney": {"patent": 1.0},
    "trademark_agent": {"trademark": 1.0, "patent": 0.5},
    "litigation_staff": {"legal": 1.0, "patent": 0.3},
    "other": {kind: 0.3 for kind in KINDS},
}

SUSPENSION_REASONS = ("代理非正常专利申请，责令停止承接新的专利代理业务", "以不正当手段招揽业务，情节严重",
                      "出借执业许可证，责令停止承接新业务", "年度报告提交虚假材料，逾期未改正")
REVOCATION_REASONS = ("停止承接新业务期间仍承接新业务，吊销执业许可证", "以欺骗手段取得执业许可证，依法吊销")
DEREGISTRATION_REASONS = ("股东会决议解散，申请注销", "合伙人决定解散，申请注销", "营业期限届满，申请注销")
FINE_SUMMARIES = ("代理非正常专利申请，给予警告并处罚款", "虚假宣传授权率，处以罚款", "以不正当手段招揽业务，处以罚款",
                  "泄露委托人商业秘密，处以罚款", "违法代理恶意商标注册申请，处以罚款")

MISCONDUCT_SUMMARIES = {"warning": "违规执业，给予警告", "abnormal_patent_filing": "代理非正常专利申请",
                        "bad_faith_trademark_filing": "代理恶意商标注册申请",
                        "association_discipline": "违反行业自律规范，予以通报批评",
                        "false_material": "年度报告提交虚假材料"}

RECORDED_BY = "ipss-seed"
# The credit event a status decision puts on the record.
SANCTIONS = {"suspended": "suspension", "revoked": "revocation"}


# Credit event kinds that are penalty decisions, with the measures (rules/periods.yaml) they
# carry: these decide the publicity period. Other kinds of bad-faith conduct are recorded for
# the standard period.
DECISION_MEASURES = {"warning": ("warning",), "fine": ("fine",), "suspension": ("stop_business",),
                     "revocation": ("licence_revocation",)}

# ---- small helpers over day ordinals -------------------------------------------------------


def day(ordinal: int | None) -> date | None:
    return date.fromordinal(ordinal) if ordinal else None


def moment(ordinal: int, hour: int) -> datetime:
    return datetime.combine(date.fromordinal(ordinal), time(hour), tzinfo=clock.CHINA)


def cumulative(weights) -> list[float]:
    return list(accumulate(weights))


# ---- the plan of one agency ----------------------------------------------------------------


@dataclass
class PlannedAgency:
    index: int
    id: str
    name: str
    kind: str
    legal_form: str
    region: Region
    established: int
    weight: float
    parent: PlannedAgency | None = None
    status: str = "active"
    suspended_until: int = 0
    ended: int = 0  # day it was revoked or deregistered: nobody practises there after it
    history: list[tuple] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.status in ("active", "suspended")


@dataclass
class Rows:
    """Rows per table, as tuples in the column order of COLUMNS."""

    agencies: list[tuple] = field(default_factory=list)
    shareholders: list[tuple] = field(default_factory=list)
    agency_status_changes: list[tuple] = field(default_factory=list)
    practitioners: list[tuple] = field(default_factory=list)
    practice_filings: list[tuple] = field(default_factory=list)
    annual_reports: list[tuple] = field(default_factory=list)
    credit_events: list[tuple] = field(default_factory=list)
    associations: list[tuple] = field(default_factory=list)
    memberships: list[tuple] = field(default_factory=list)
    credit_list_entries: list[tuple] = field(default_factory=list)


COLUMNS = {
    "agencies": ("id", "name", "kind", "credit_code", "licence_number", "region_code", "legal_form",
                 "parent_agency_id", "status", "suspended_until", "legal_representative", "address", "phone",
                 "established_on", "created_at"),
    "shareholders": ("agency_id", "position", "name", "holds_attorney_certificate"),
    "agency_status_changes": ("agency_id", "from_status", "to_status", "effective_on", "suspended_until", "reason",
                              "decision_reference", "recorded_by", "recorded_at"),
    "practitioners": ("id", "name", "kind", "resident_id", "phone", "certificate_number", "qualified_on",
                      "current_agency_id", "created_at"),
    "practice_filings": ("practitioner_id", "agency_id", "filing_number", "started_on", "ended_on", "end_reason"),
    "annual_reports": ("agency_id", "year", "filed_on", "employees", "practitioners", "revenue_cny", "summary"),
    "credit_events": ("id", "agency_id", "practitioner_id", "kind", "source", "source_reference", "occurred_on",
                      "publicity_ends_on", "summary", "fine_cny", "recorded_at"),
    "associations": ("id", "name", "credit_code", "region_code", "kinds", "created_at"),
    "memberships": ("id", "association_id", "agency_id", "joined_on", "left_on", "ended_by", "reference"),
    "credit_list_entries": ("id", "agency_id", "list", "reason", "report_year", "listed_on", "moves_to_serious_on",
                            "early_removal_from", "removed_on", "removal_reason", "credit_event_id", "recorded_at"),
}


class Generator:
    """Draws the registry from one random stream; every choice is made in a fixed order."""

    def __init__(self, rng: random.Random, as_of: date, rules: Rules, calendar: WorkingDayCalendar):
        self.rng = rng
        self.today = as_of.toordinal()
        self.rules = rules
        self.calendar = calendar
        self.region_weights = cumulative(r.weight for r in REGIONS)
        self.kind_names = list(KINDS)
        self.kind_weights = cumulative(share for share, _ in KINDS.values())
        self.names: set[str] = set()
        self.org_codes: set[str] = set()
        self.resident_ids: set[str] = set()
        self.licences: dict[str, int] = {}
        self.certificates = 0
        self.filing_numbers = 0
        self.decisions = 0

    # -- periods (rules/periods.yaml) --

    def shift(self, on: int, months: int) -> int:
        """The corresponding day `months` later (or earlier), as the law counts months."""
        return self.calendar.add_months(date.fromordinal(on), months, roll_forward=False).toordinal()

    def period_end(self, on: int, period: Period | str) -> int:
        period = self.rules.periods[period] if isinstance(period, str) else period
        start = date.fromordinal(on)
        if period.unit in ("months", "years"):
            # The day `deadline` gives, without walking the days one by one.
            months = period.length * (12 if period.unit == "years" else 1)
            return self.calendar.add_months(start, months, period.roll_forward).toordinal()
        return self.calendar.deadline(start, period).toordinal()

    def publicity_end(self, kind: str, on: int, fine_cny: int = 0, restricted_until: int = 0) -> int:
        """Last day a credit event is public (公示期): short for a low fine, the standard period
        otherwise or the restriction when it is longer. A decision that is not published (a
        warning alone) counts on the credit grade for as long as a short publicity would."""
        publicity = self.rules.publicity
        measures = DECISION_MEASURES.get(kind)
        period = (self.rules.publicity_period(measures, fine_cny * 100) or publicity.short_period) if measures \
            else publicity.standard_period
        return max(self.period_end(on, period), restricted_until)

    # -- people --

    def person_name(self, male: bool | None = None) -> str:
        rng = self.rng
        male = rng.random() < 0.55 if male is None else male
        pool = GIVEN_MALE if male else GIVEN_FEMALE
        given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
        return rng.choice(SURNAMES) + given

    def mobile(self) -> str:
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10**9):09d}"

    def resident_id(self, male: bool, born: int) -> str:
        """GB 11643: birthplace division, birth date, sequence (odd for men), check character."""
        while True:
            place = self.rng.choices(REGIONS, cum_weights=self.region_weights)[0].code
            sequence = self.rng.randrange(1, 500) * 2 - (1 if male else 0)
            first17 = f"{place}{date.fromordinal(born):%Y%m%d}{sequence:03d}"
            if first17 not in self.resident_ids:
                self.resident_ids.add(first17)
                return first17 + resident_id_check_char(first17)

    # -- agencies --

    def credit_code(self, kind: str, region: Region) -> str:
        """GB 32100: registering authority and organisation type (31 for law firms registered by
        justice bureaux, 91 for enterprises), the division code, a GB 11714 organisation code and
        the check character."""
        while True:
            body = f"{self.rng.randrange(10**8):08d}"
            if body not in self.org_codes:
                self.org_codes.add(body)
                break
        check = 11 - sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
        org_code = body + {10: "X", 11: "0"}.get(check, str(check))
        first17 = ("31" if kind == "legal" else "91") + region.code + org_code
        return first17 + credit_code_check_char(first17)

    def unique_name(self, region: Region, ending: str) -> str:
        rng = self.rng
        for attempt in range(40):
            word = rng.choice(TRADE_NAME_FIRST) + rng.choice(TRADE_NAME_SECOND)
            if attempt >= 20:
                word += rng.choice(TRADE_NAME_SECOND)
            name = region.short + word + ending
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError(f"no free agency name left for {region.short}…{ending}")

    def licence_number(self, agency: PlannedAgency) -> str | None:
        """Patent agencies hold a licence (执业许可证, 机构代码: province and a sequence); trademark
        agencies a filing number (备案); branches and other kinds neither."""
        if agency.parent is not None or agency.kind not in ("patent", "trademark"):
            return None
        province = agency.region.code[:2]
        key = f"{agency.kind}-{province}"
        sequence = self.licences[key] = self.licences.get(key, 0) + 1
        if agency.kind == "patent":
            return f"{province}{sequence:03d}" if sequence < 1000 else f"{province}{sequence:05d}"
        return f"TM{province}{date.fromordinal(agency.established).year}{sequence:05d}"

    def established(self, kind: str) -> int:
        """Patent agencies since 1985, the others mostly in the last decade."""
        earliest = date(1985 if kind == "patent" else 2003, 1, 1).toordinal()
        years_ago = min(self.rng.expovariate(1 / (9 if kind == "patent" else 6)), 40)
        return max(earliest, self.today - 30 - int(years_ago * 365.25) - self.rng.randrange(365))

    def head_office(self, index: int) -> PlannedAgency:
        rng = self.rng
        kind = rng.choices(self.kind_names, cum_weights=self.kind_weights)[0]
        forms = KINDS[kind][1]
        legal_form = rng.choices(list(forms), weights=[share for share, _ in forms.values()])[0]
        region = rng.choices(REGIONS, cum_weights=self.region_weights)[0]
        name = self.unique_name(region, rng.choice(forms[legal_form][1]))
        return PlannedAgency(index, self.new_id("ag"), name, kind, legal_form, region, self.established(kind),
                             weight=min(rng.paretovariate(1.3), 60.0))

    def branch(self, index: int, parent: PlannedAgency) -> PlannedAgency | None:
        """A branch (分支机构) of a head office, in another city, opened after it."""
        rng = self.rng
        region = rng.choices(REGIONS, cum_weights=self.region_weights)[0]
        if region.short == parent.region.short:
            return None
        latest = (parent.ended or self.today) - 60
        if latest <= parent.established + 365:
            return None
        name = parent.name + region.short + ("分所" if parent.legal_form == "partnership" else "分公司")
        if name in self.names:
            return None
        self.names.add(name)
        return PlannedAgency(index, self.new_id("ag"), name, parent.kind, parent.legal_form, region,
                             rng.randrange(parent.established + 365, latest), weight=min(rng.paretovariate(1.6), 10.0),
                             parent=parent)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(80):020x}"

    def decision_reference(self, on: int, region: Region) -> str:
        self.decisions += 1
        return f"case-{date.fromordinal(on).year}-{region.code}-{self.decisions:06d}"

    # -- status histories (停止承接新业务, 吊销, 注销) --

    def change(self, agency: PlannedAgency, to_status: str, on: int, until: int = 0, reason: str = "",
               reference: str = "") -> None:
        agency.history.append((agency.status, to_status, on, until, reason, reference))
        agency.status, agency.suspended_until = to_status, until
        if to_status in ("revoked", "deregistered") and not agency.ended:
            agency.ended = on

    def plan_status(self, agency: PlannedAgency) -> None:
        """Mostly active; some suspended now (until a day to come), some suspended once and back,
        a few revoked (patent licences) or deregistered."""
        rng = self.rng
        first = agency.established + 180
        if agency.parent is not None:
            if agency.parent.ended:
                self.change(agency, "deregistered", max(agency.established + 1, agency.parent.ended),
                            reason="总机构终止，分支机构随之注销")
            return
        if first >= self.today - 400:
            return
        draw = rng.random()
        if draw < 0.03:
            self.change(agency, "deregistered", rng.randrange(first, self.today),
                        reason=rng.choice(DEREGISTRATION_REASONS))
        elif draw < 0.045 and agency.kind == "patent":
            self.revoke(agency, first)
        elif draw < 0.085:
            months = rng.randint(6, 12)
            start = max(first, self.shift(self.today, -months) + 2)
            self.suspend(agency, rng.randrange(start, self.today), months)
        elif draw < 0.115:
            months = rng.randint(6, 12)
            on = rng.randrange(first, self.shift(self.today, -months) - 30)
            self.suspend(agency, on, months)
            self.change(agency, "active", agency.suspended_until + 1, reason="停止承接新业务期满，恢复执业")

    def suspend(self, agency: PlannedAgency, on: int, months: int) -> None:
        until = self.shift(on, months) - 1
        self.change(agency, "suspended", on, until, self.rng.choice(SUSPENSION_REASONS),
                    self.decision_reference(on, agency.region))

    def revoke(self, agency: PlannedAgency, first: int) -> None:
        rng = self.rng
        on = rng.randrange(first, self.today - 200)
        self.suspend(agency, on, 12)
        revoked = rng.randrange(on + 30, min(agency.suspended_until, self.today - 10))
        self.change(agency, "revoked", revoked, reason=rng.choice(REVOCATION_REASONS),
                    reference=self.decision_reference(revoked, agency.region))
        if rng.random() < 0.3:
            self.change(agency, "deregistered", rng.randrange(revoked + 1, self.today),
                        reason="执业许可证被吊销后办理注销登记")

    # -- rows of an agency --

    def agency_rows(self, agency: PlannedAgency, practitioners_expected: float, rows: Rows) -> None:
        rng = self.rng
        people = self.shareholders(agency)
        rows.agencies.append((
            agency.id, agency.name, agency.kind, self.credit_code(agency.kind, agency.region),
            self.licence_number(agency), agency.region.code, agency.legal_form,
            agency.parent.id if agency.parent else None, agency.status, day(agency.suspended_until),
            people[0][0] if people else self.person_name(),
            f"{agency.region.full}{rng.choice(ROADS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}层",
            f"{agency.region.area_code}-{rng.randint(2, 8)}{rng.randrange(10**7):07d}" if rng.random() < 0.8
            else self.mobile(),
            day(agency.established), moment(agency.established, 9)))
        rows.shareholders.extend((agency.id, position, name, certified)
                                 for position, (name, certified) in enumerate(people))
        for from_status, to_status, on, until, reason, reference in agency.history:
            rows.agency_status_changes.append((agency.id, from_status, to_status, day(on), day(until), reason,
                                               reference, RECORDED_BY, moment(on, 16)))
            if to_status in SANCTIONS:
                self.sanction_events(agency, to_status, on, until, reason, reference, rows)
        self.annual_reports(agency, practitioners_expected, rows)
        if rng.random() < 0.05:
            self.misconduct_event(agency, rows)

    def shareholders(self, agency: PlannedAgency) -> list[tuple[str, bool]]:
        """Patent agencies: 2+ partners or 5+ shareholders, most of them patent attorneys, some
        agencies with a shareholder who holds no certificate (seed (十五)). Branches have none."""
        rng = self.rng
        if agency.parent is not None or agency.legal_form in ("other",):
            return []
        if agency.kind == "patent":
            count = rng.randint(2, 6) if agency.legal_form == "partnership" else rng.randint(5, 9)
            uncertified = rng.randint(1, max(1, count // 3)) if rng.random() < 0.25 else 0
            return [(self.person_name(), i >= uncertified) for i in range(count)]
        count = 1 if agency.legal_form == "sole_proprietorship" else rng.randint(1, 4)
        return [(self.person_name(), agency.kind == "legal") for _ in range(count)]

    def sanction_events(self, agency: PlannedAgency, status: str, on: int, until: int, reason: str, reference: str,
                        rows: Rows) -> None:
        """The decision behind a suspension or revocation is on the credit record, often with a fine."""
        self.event(rows, agency.id, None, SANCTIONS[status], "case", reference, on,
                   self.publicity_end(SANCTIONS[status], on, restricted_until=until), reason)
        if status == "suspended" and self.rng.random() < 0.6:
            fine = self.rng.choice((30_000, 50_000, 80_000, 100_000))
            self.event(rows, agency.id, None, "fine", "case", reference, on, self.publicity_end("fine", on, fine),
                       self.rng.choice(FINE_SUMMARIES), fine)

    def misconduct_event(self, agency: PlannedAgency, rows: Rows) -> None:
        rng = self.rng
        end = agency.ended or self.today
        on = rng.randrange(max(agency.established + 1, end - 5 * 365), end)
        kind = rng.choices(("warning", "fine", "abnormal_patent_filing", "bad_faith_trademark_filing",
                            "association_discipline", "false_material"), weights=(3, 4, 2, 2, 1, 1))[0]
        if kind == "abnormal_patent_filing" and agency.kind != "patent":
            kind = "bad_faith_trademark_filing" if agency.kind == "trademark" else "warning"
        if kind == "bad_faith_trademark_filing" and agency.kind not in ("trademark", "patent"):
            kind = "warning"
        fine = rng.choice((5_000, 10_000, 20_000, 50_000, 100_000)) if kind == "fine" else 0
        source = {"association_discipline": "association", "false_material": "annual_report",
                  "abnormal_patent_filing": "other_department"}.get(kind, "case")
        self.event(rows, agency.id, None, kind, source, self.decision_reference(on, agency.region), on,
                   self.publicity_end(kind, on, fine),
                   rng.choice(FINE_SUMMARIES) if fine else MISCONDUCT_SUMMARIES[kind], fine)

    def event(self, rows: Rows, agency_id: str | None, practitioner_id: str | None, kind: str, source: str,
              reference: str, on: int, publicity_ends: int, summary: str, fine: int = 0) -> None:
        rows.credit_events.append((self.new_id("ce"), agency_id, practitioner_id, kind, source, reference, day(on),
                                   day(publicity_ends), summary, fine, moment(min(on + 1, self.today), 11)))

    # -- annual reports (年度报告) and the abnormal operations list (经营异常名录) --

    def annual_reports(self, agency: PlannedAgency, practitioners_expected: float, rows: Rows) -> None:
        """One report a year in the reporting window (rules/periods.yaml), for the years the
        agency existed in, up to the last whose window has closed."""
        rng = self.rng
        window = self.rules.windows["annual_report_window"]
        first_year = max(date.fromordinal(agency.established).year, date.fromordinal(self.today).year - 6)
        end = agency.ended or self.today
        for year in range(first_year, date.fromordinal(self.today).year):
            opens, closes = (d.toordinal() for d in window.for_year(year + 1))
            listed_on = closes + 1
            if listed_on > end:
                break
            filed = rng.randint(opens, closes)
            if rng.random() < 0.025:
                filed = self.missed_report(agency, year, listed_on, end, rows)
            if filed:
                staff = max(1, round(practitioners_expected * rng.uniform(0.8, 1.5)))
                rows.annual_reports.append((
                    agency.id, year, day(filed), staff + rng.randint(0, staff), staff,
                    staff * rng.randint(150_000, 600_000), f"{year}年度报告：执业人员{staff}人，经营正常"))

    def missed_report(self, agency: PlannedAgency, year: int, listed_on: int, end: int, rows: Rows) -> int:
        """A missed report puts the agency on the abnormal list the day after the window closes; it
        leaves the list by filing late and asking, or moves to the serious-violation list the day
        after three years on it (专利代理管理办法 art. 37, 38): the list entries and their credit
        events as the registry keeps them (store.list_non_filers, move_to_serious_list,
        remove_from_list). Returns the day of the late filing, or 0."""
        rng = self.rng
        entry = f"abnormal-{year}-{agency.id}"
        planned_end = self.period_end(listed_on, "abnormal_list_to_serious")
        moves_on = planned_end + 1
        late = listed_on + rng.randint(20, 300)
        summary = f"未按规定报送{year}年度报告，列入经营异常名录"
        if late < end and rng.random() < 0.6:
            self.list_entry(rows, entry, agency.id, "abnormal_operation", "annual_report_missing", year, listed_on,
                            moves_on=moves_on, removed=(late, "annual_report_filed"))
            self.listing(rows, entry, agency.id, "abnormal_operation_list", listed_on, late - 1, summary)
            self.listing(rows, f"{entry}-removed", agency.id, "abnormal_operation_list_removal", late, planned_end,
                         "已补报年度报告，申请移出经营异常名录", reference=entry)
            return late
        moved = moves_on <= self.today
        self.list_entry(rows, entry, agency.id, "abnormal_operation", "annual_report_missing", year, listed_on,
                        moves_on=moves_on, removed=(moves_on, "moved_to_serious_violation_list") if moved else None)
        self.listing(rows, entry, agency.id, "abnormal_operation_list", listed_on,
                     moves_on - 1 if moved else planned_end, summary)
        if moved:
            serious = f"serious-{year}-{agency.id}"
            self.list_entry(rows, serious, agency.id, "serious_violation", "moved_from_abnormal_list", year, moves_on,
                            early_from=self.period_end(moves_on, "serious_violation_early_removal") + 1)
            self.listing(rows, serious, agency.id, "serious_violation_list", moves_on,
                         self.period_end(moves_on, "serious_violation_list"),
                         "列入经营异常名录届满三年仍未履行相关义务，列入严重违法失信名单", reference=entry)
        return 0

    def list_entry(self, rows: Rows, entry_id: str, agency_id: str, list_name: str, reason: str, year: int,
                   listed_on: int, moves_on: int | None = None, early_from: int | None = None,
                   removed: tuple[int, str] | None = None) -> None:
        removed_on, removal_reason = removed or (None, "")
        rows.credit_list_entries.append((
            entry_id, agency_id, list_name, reason, year, day(listed_on), day(moves_on) if moves_on else None,
            day(early_from) if early_from else None, day(removed_on) if removed_on else None, removal_reason,
            entry_id, moment(min(listed_on + 1, self.today), 11)))

    def listing(self, rows: Rows, event_id: str, agency_id: str, kind: str, on: int, publicity_ends: int,
                summary: str, reference: str = "") -> None:
        """A list's credit event, under the id the registry gives it (the entry's, or <entry>-removed)."""
        rows.credit_events.append((event_id, agency_id, None, kind, "annual_report",
                                   reference or f"annual-report-{event_id.split('-')[1]}", day(on),
                                   day(publicity_ends), summary, 0, moment(min(on + 1, self.today), 11)))

    # -- practitioners (从业人员) and practice filings (执业备案) --

    def practitioner(self, kind: str, pools: Pools, rows: Rows) -> None:
        rng = self.rng
        male = rng.random() < 0.6
        born = rng.randrange(self.shift(self.today, -12 * 65), self.shift(self.today, -12 * 24))
        practitioner_id = self.new_id("pr")
        qualified = certificate = None
        career = born + int(365.25 * 22) + rng.randrange(6 * 365)
        if kind == "patent_attorney":
            qualified = max(date(1988, 1, 1).toordinal(), career + rng.randrange(3 * 365))
            qualified = min(qualified, self.today - 120)
            self.certificates += 1
            certificate = f"{date.fromordinal(qualified).year}{self.certificates:07d}"
            career = max(career, qualified + rng.randrange(30, 400))
        career = min(max(career, date(1990, 1, 1).toordinal()), self.today - 30)
        filings = self.filings(practitioner_id, kind, career, pools)
        current = next((agency for agency, _, ended, _ in filings if ended == 0), None)
        rows.practitioners.append((
            practitioner_id, self.person_name(male), kind, self.resident_id(male, born),
            self.mobile() if rng.random() < 0.7 else "", certificate, day(qualified),
            current.id if current else None, moment(filings[0][1] if filings else career, 10)))
        for agency, started, ended, reason in filings:
            self.filing_numbers += 1
            rows.practice_filings.append((practitioner_id, agency.id,
                                          f"BA{date.fromordinal(started).year}{self.filing_numbers:08d}",
                                          day(started), day(ended or None), reason))
        if rng.random() < 0.004:
            self.practitioner_event(practitioner_id, career, rows)

    def filings(self, practitioner_id: str, kind: str, career: int, pools: Pools) -> list[tuple]:
        """One current filing at a live agency (or none for a few who stopped practising), after
        up to two earlier ones elsewhere that each ended the day the next began (a move)."""
        rng = self.rng
        moves = rng.choices((0, 1, 2), weights=(78, 16, 6))[0]
        if self.today - career < 120 * (moves + 1):
            moves = 0
        starts = sorted([career] + rng.sample(range(career + 60, self.today - 60), moves))
        if any(b - a < 60 for a, b in zip(starts, starts[1:])):
            starts = starts[:1]
        stopped = rng.randrange(starts[-1] + 1, self.today) if rng.random() < 0.03 else 0
        planned: list[tuple] = []
        end, end_reason = stopped, "个人申请注销执业备案" if stopped else ""
        for position in range(len(starts) - 1, -1, -1):
            found = self.employer(kind, pools, starts[position], end, planned[0][0] if planned else None)
            if found is None:
                break
            agency, started = found
            planned.insert(0, (agency, started, end, end_reason))
            end, end_reason = started, f"transferred to {agency.name}"
        return planned

    def employer(self, kind: str, pools: Pools, start: int, end: int, next_agency: PlannedAgency | None
                 ) -> tuple[PlannedAgency, int] | None:
        """An agency that existed from `start` (or shortly after) to `end` (0: still practising)."""
        ceiling = end - 1 if end else self.today - 1
        for _ in range(8):
            agency = pools.draw(kind, live=not end)
            if agency is None:
                return None
            if agency is next_agency or (agency.ended and (not end or agency.ended < end)):
                continue
            started = max(start, agency.established + self.rng.randrange(1, 90))
            if started <= ceiling:
                return agency, started
        return None

    def practitioner_event(self, practitioner_id: str, career: int, rows: Rows) -> None:
        rng = self.rng
        on = rng.randrange(max(career, self.today - 5 * 365), self.today)
        kind = rng.choices(("warning", "fine", "association_discipline"), weights=(4, 4, 2))[0]
        fine = rng.choice((500, 1_000, 5_000, 10_000, 30_000, 50_000)) if kind == "fine" else 0
        source = "association" if kind == "association_discipline" else "case"
        self.event(rows, None, practitioner_id, kind, source, f"person-{self.decisions + 1:06d}", on,
                   self.publicity_end(kind, on, fine),
                   "专利代理师违反执业纪律" if kind != "fine" else "专利代理师同时在两个以上机构执业，处以罚款", fine)
        self.decisions += 1


class Pools:
    """Agencies each kind of practitioner files with, weighted by agency size; live ones apart."""

    def __init__(self, rng: random.Random, agencies: list[PlannedAgency]):
        self.rng = rng
        self.pools: dict[tuple[str, bool], tuple[list[PlannedAgency], list[float]]] = {}
        for kind, employers in EMPLOYERS.items():
            for live in (False, True):
                members = [a for a in agencies if a.kind in employers and (a.live or not live)]
                self.pools[(kind, live)] = (members, cumulative(a.weight * employers[a.kind] for a in members))

    def draw(self, kind: str, live: bool) -> PlannedAgency | None:
        members, weights = self.pools[(kind, live)]
        return self.rng.choices(members, cum_weights=weights)[0] if members else None

    def expected_share(self) -> dict[str, float]:
        """Each agency's expected share of practitioners, for the sizes in its annual reports."""
        share: dict[str, float] = {}
        for kind, part in PRACTITIONER_KINDS.items():
            members, weights = self.pools[(kind, True)]
            for agency in members:
                drawn = part * agency.weight * EMPLOYERS[kind][agency.kind] / weights[-1]
                share[agency.id] = share.get(agency.id, 0.0) + drawn
        return share


# ---- loading ---------------------------------------------------------------------------------

PRACTITIONER_CHUNK = 50_000


class BulkWriter:
    """Writes row tuples into a table: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, connection: sqlalchemy.Connection):
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}

    def write(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        columns = COLUMNS[table]
        if self.postgres:
            raw = self.connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.connection.exec_driver_sql(self.insert_statement(table), self.stored_values(table, rows))
        self.counts[table] = self.counts.get(table, 0) + len(rows)

    def insert_statement(self, table: str) -> str:
        columns = COLUMNS[table]
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def stored_values(self, table: str, rows: list[tuple]) -> list[tuple]:
        """Values as the column types store them (SQLite keeps dates as text), the way an ORM
        insert would write them."""
        dialect = self.connection.dialect
        processors = [column.type.dialect_impl(dialect).bind_processor(dialect)
                      for column in (store.Base.metadata.tables[table].c[name] for name in COLUMNS[table])]
        if not any(processors):
            return rows
        return [tuple(value if process is None or value is None else process(value)
                      for process, value in zip(processors, row)) for row in rows]

    def write_all(self, rows: Rows) -> None:
        for table in COLUMNS:
            self.write(table, getattr(rows, table))


@contextmanager
def bulk_writer(url: str) -> Iterator[BulkWriter]:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    if db.is_sqlite(url):
        db.tune_sqlite_engine(engine)
    try:
        with engine.begin() as connection:
            present = connection.scalar(select(func.count()).select_from(store.Agency.__table__))
            if present:
                raise ValueError(f"the registry already holds {present} agencies; seed loads an empty registry")
            if connection.dialect.name == "sqlite":
                # A large page cache keeps the indexes being filled in memory during the load.
                connection.exec_driver_sql("PRAGMA cache_size=-524288")
            yield BulkWriter(connection)
        # Fresh statistics, so the planner knows the tables are large (and on PostgreSQL the
        # visibility map that index-only counts need).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("VACUUM ANALYZE")
                # The load's write-ahead log goes to disk now, not as a checkpoint during the
                # first minutes of service.
                connection.exec_driver_sql("CHECKPOINT")
            else:
                connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def plan_agencies(generator: Generator, count: int) -> list[PlannedAgency]:
    """Head offices first (their statuses decide their branches'), then about 4 % branches."""
    branch_target = count // 25
    heads = [generator.head_office(i) for i in range(count - branch_target)]
    for head in heads:
        generator.plan_status(head)
    parents = [a for a in heads if a.kind in ("patent", "trademark") and a.legal_form != "sole_proprietorship"]
    branches: list[PlannedAgency] = []
    for _ in range(branch_target * 10 if parents else 0):
        branch = generator.branch(len(heads) + len(branches), generator.rng.choice(parents))
        if branch is not None:
            generator.plan_status(branch)
            branches.append(branch)
            if len(branches) == branch_target:
                break
    # Too few head offices old enough to have branches: the rest are head offices too.
    extra = [generator.head_office(len(heads) + len(branches) + i) for i in range(branch_target - len(branches))]
    for head in extra:
        generator.plan_status(head)
    return heads + extra + branches


def batches(generator: Generator, planned: list[PlannedAgency], practitioners: int) -> Iterator[Rows]:
    """The agencies with everything about them, then the practitioners a chunk at a time."""
    pools = Pools(generator.rng, planned)
    share = pools.expected_share()
    rows = Rows()
    for agency in planned:
        generator.agency_rows(agency, share.get(agency.id, 0.0) * practitioners, rows)
    yield rows
    kinds = list(PRACTITIONER_KINDS)
    kind_weights = cumulative(PRACTITIONER_KINDS.values())
    for first in range(0, practitioners, PRACTITIONER_CHUNK):
        rows = Rows()
        for kind in generator.rng.choices(kinds, cum_weights=kind_weights,
                                          k=min(PRACTITIONER_CHUNK, practitioners - first)):
            generator.practitioner(kind, pools, rows)
        yield rows


# ---- industry associations (行业协会) and their members --------------------------------------------


@dataclass(frozen=True)
class PlannedAssociation:
    name: str
    region_code: str  # a province: its members are the province's agencies
    kinds: tuple[str, ...]
    founded: date
    share: float  # of the province's head offices of its kinds that are members now, roughly


ASSOCIATIONS = (
    PlannedAssociation("北京市知识产权服务业协会", "110000", ("patent", "trademark"), date(2013, 6, 18), 0.45),
    PlannedAssociation("广东省商标协会", "440000", ("trademark",), date(2004, 9, 22), 0.35),
    PlannedAssociation("浙江省专利代理师协会", "330000", ("patent",), date(2009, 3, 26), 0.6),
)


def association_rows(rng_seed: int, as_of: date, planned: list[PlannedAgency]) -> Rows:
    """The associations, and memberships for a share of the head offices of their province and
    kinds: most joined years ago, a few left (退会), and those of agencies since revoked or
    deregistered ended on that day (机构注销、吊销). Drawn from a stream of their own, so the
    registry's other data are the same with or without them."""
    rng = random.Random(f"{rng_seed}-associations")
    today = as_of.toordinal()
    rows = Rows()
    for association in ASSOCIATIONS:
        association_id = f"as-{rng.getrandbits(80):020x}"
        rows.associations.append((
            association_id, association.name, association_credit_code(rng, association.region_code),
            association.region_code, ",".join(association.kinds),
            moment(association.founded.toordinal(), 9)))
        founded = association.founded.toordinal()
        for agency in planned:
            if (agency.parent is not None or agency.kind not in association.kinds
                    or agency.region.code[:2] != association.region_code[:2] or rng.random() >= association.share):
                continue
            opens = max(founded, agency.established + 30)
            closes = (agency.ended or today) - 1
            if closes <= opens:
                continue
            # Most joined long ago: the earlier part of the span is drawn more often.
            joined = opens + int((closes - opens) * rng.random() ** 1.5)
            left, ended_by, reference = None, "", ""
            if agency.ended and agency.ended > joined:
                left, ended_by, reference = agency.ended, "agency_closed", "机构注销或吊销"
            elif closes - joined > 120 and rng.random() < 0.08:
                left = rng.randrange(joined + 60, closes + 1)
                ended_by, reference = "left", f"退会申请{date.fromordinal(left).year}-{rng.randrange(1, 999):03d}"
            rows.memberships.append((f"ms-{rng.getrandbits(80):020x}", association_id, agency.id, day(joined),
                                     day(left), ended_by, reference))
    return rows


def association_credit_code(rng: random.Random, region_code: str) -> str:
    """GB 32100 for a social organisation (社会团体) registered by a civil affairs department (51),
    with a GB 11714 organisation code."""
    body = f"{rng.randrange(10**8):08d}"
    check = 11 - sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    first17 = "51" + region_code + body + {10: "X", 11: "0"}.get(check, str(check))
    return first17 + credit_code_check_char(first17)


def seed(url: str, agencies: int, practitioners: int, rng_seed: int = 2026, as_of: date | None = None
         ) -> dict[str, int]:
    """Load `agencies` agencies and `practitioners` practitioners (with everything around them)
    into the empty registry at `url`; returns the number of rows written per table."""
    generator = Generator(random.Random(rng_seed), as_of or clock.today(), Rules.load(), WorkingDayCalendar.load())
    planned = plan_agencies(generator, agencies)
    with bulk_writer(url) as writer, ThreadPoolExecutor(max_workers=1) as background:
        # The database digests one batch while the next is drawn.
        writing = None
        for rows in batches(generator, planned, practitioners):
            if writing is not None:
                writing.result()
            writing = background.submit(writer.write_all, rows)
        if writing is not None:
            writing.result()
        writer.write_all(association_rows(rng_seed, as_of or clock.today(), planned))
    return {table: writer.counts.get(table, 0) for table in COLUMNS}
