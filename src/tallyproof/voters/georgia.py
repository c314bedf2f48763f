"""Georgia's voter files: the statewide voter list and the voter-history file.

The voter list (``Georgia_Daily_VoterBase``, sold by the Secretary of State) is pipe-delimited
with a header row; its columns, in the published order: COUNTY_CODE, REGISTRATION_NUMBER,
VOTER_STATUS, LAST_NAME, FIRST_NAME, MIDDLE_MAIDEN_NAME, NAME_SUFFIX, NAME_TITLE,
RESIDENCE_HOUSE_NUMBER, RESIDENCE_STREET_NAME, RESIDENCE_STREET_SUFFIX, RESIDENCE_APT_UNIT_NBR,
RESIDENCE_CITY, RESIDENCE_ZIPCODE, BIRTHDATE, REGISTRATION_DATE, RACE, GENDER, LAND_DISTRICT,
LAND_LOT, STATUS_REASON, COUNTY_PRECINCT_ID, CITY_PRECINCT_ID, CONGRESSIONAL_DISTRICT,
SENATE_DISTRICT, HOUSE_DISTRICT, JUDICIAL_DISTRICT, COMMISSION_DISTRICT, SCHOOL_DISTRICT,
COUNTY_DISTRICTA_NAME, COUNTY_DISTRICTA_VALUE, COUNTY_DISTRICTB_NAME, COUNTY_DISTRICTB_VALUE,
MUNICIPAL_NAME, MUNICIPAL_CODE, WARD_CITY_COUNCIL_NAME, WARD_CITY_COUNCIL_CODE,
CITY_SCHOOL_DISTRICT_NAME, CITY_SCHOOL_DISTRICT_VALUE, CITY_DISTA_NAME, CITY_DISTA_VALUE,
CITY_DISTB_NAME, CITY_DISTB_VALUE, CITY_DISTC_NAME, CITY_DISTC_VALUE, CITY_DISTD_NAME,
CITY_DISTD_VALUE, DATE_LAST_VOTED, PARTY_LAST_VOTED, DATE_ADDED, DATE_CHANGED, DISTRICT_COMBO,
RACE_DESC, LAST_CONTACT_DATE, MAIL_HOUSE_NBR, MAIL_STREET_NAME, MAIL_APT_UNIT_NBR, MAIL_CITY,
MAIL_STATE, MAIL_ZIPCODE, MAIL_ADDRESS_2, MAIL_ADDRESS_3, MAIL_COUNTRY. ``BIRTHDATE`` holds the
year of birth only (the full date is not public), ``REGISTRATION_DATE`` is YYYYMMDD and
``VOTER_STATUS`` is A (active) or I (inactive): both are registered voters.

``COUNTY_CODE`` is the county's number in Georgia's alphabetical list (001 Appling … 060
Fulton … 159 Worth); the history file names the county instead, so the reader turns the code
into that name (upper case) and a voter is the same ``county`` + ``voter_id`` in both files.
Registration numbers are compared without leading zeros (the files pad them differently).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

#: Georgia's 159 counties in the order of their county codes (1-based).
COUNTIES = (
    "APPLING", "ATKINSON", "BACON", "BAKER", "BALDWIN", "BANKS", "BARROW", "BARTOW", "BEN HILL",
    "BERRIEN", "BIBB", "BLECKLEY", "BRANTLEY", "BROOKS", "BRYAN", "BULLOCH", "BURKE", "BUTTS",
    "CALHOUN", "CAMDEN", "CANDLER", "CARROLL", "CATOOSA", "CHARLTON", "CHATHAM",
    "CHATTAHOOCHEE", "CHATTOOGA", "CHEROKEE", "CLARKE", "CLAY", "CLAYTON", "CLINCH", "COBB",
    "COFFEE", "COLQUITT", "COLUMBIA", "COOK", "COWETA", "CRAWFORD", "CRISP", "DADE", "DAWSON",
    "DECATUR", "DEKALB", "DODGE", "DOOLY", "DOUGHERTY", "DOUGLAS", "EARLY", "ECHOLS",
    "EFFINGHAM", "ELBERT", "EMANUEL", "EVANS", "FANNIN", "FAYETTE", "FLOYD", "FORSYTH",
    "FRANKLIN", "FULTON", "GILMER", "GLASCOCK", "GLYNN", "GORDON", "GRADY", "GREENE",
    "GWINNETT", "HABERSHAM", "HALL", "HANCOCK", "HARALSON", "HARRIS", "HART", "HEARD", "HENRY",
    "HOUSTON", "IRWIN", "JACKSON", "JASPER", "JEFF DAVIS", "JEFFERSON", "JENKINS", "JOHNSON",
    "JONES", "LAMAR", "LANIER", "LAURENS", "LEE", "LIBERTY", "LINCOLN", "LONG", "LOWNDES",
    "LUMPKIN", "MACON", "MADISON", "MARION", "MCDUFFIE", "MCINTOSH", "MERIWETHER", "MILLER",
    "MITCHELL", "MONROE", "MONTGOMERY", "MORGAN", "MURRAY", "MUSCOGEE", "NEWTON", "OCONEE",
    "OGLETHORPE", "PAULDING", "PEACH", "PICKENS", "PIERCE", "PIKE", "POLK", "PULASKI", "PUTNAM",
    "QUITMAN", "RABUN", "RANDOLPH", "RICHMOND", "ROCKDALE", "SCHLEY", "SCREVEN", "SEMINOLE",
    "SPALDING", "STEPHENS", "STEWART", "SUMTER", "TALBOT", "TALIAFERRO", "TATTNALL", "TAYLOR",
    "TELFAIR", "TERRELL", "THOMAS", "TIFT", "TOOMBS", "TOWNS", "TREUTLEN", "TROUP", "TURNER",
    "TWIGGS", "UNION", "UPSON", "WALKER", "WALTON", "WARE", "WARREN", "WASHINGTON", "WAYNE",
    "WEBSTER", "WHEELER", "WHITE", "WHITFIELD", "WILCOX", "WILKES", "WILKINSON", "WORTH",
)


def _reg_number(arr: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(arr)
    stripped = pc.utf8_ltrim(text, characters="0")
    # a number of zeros only stays "0"; an empty value stays empty (and is refused later)
    return pc.if_else(pc.and_(pc.equal(stripped, ""), pc.not_equal(text, "")), "0", stripped)


def roll(cols: dict[str, pa.Array], path: Path, line0: int) -> None:
    """COUNTY_CODE → the county's name; registration numbers without leading zeros."""
    code = pc.utf8_trim_whitespace(cols.pop("_county_code"))
    ok = pc.fill_null(pc.match_substring_regex(code, r"^\d{1,3}$"), False)
    num = pc.cast(pc.if_else(ok, code, "0"), pa.int32())
    known = pc.and_(ok, pc.and_(pc.greater_equal(num, 1),
                                pc.less_equal(num, len(COUNTIES))))
    if not pc.all(known).as_py():
        i = int(np.flatnonzero(pc.invert(known).to_numpy(zero_copy_only=False))[0])
        raise InputError(f"not a Georgia county code: {code[i].as_py()!r} (1–159)", file=path,
                         record=f"line {line0 + i}", field="COUNTY_CODE")
    cols["county"] = pc.take(pa.array(COUNTIES), pc.subtract(num, 1))
    cols["voter_id"] = _reg_number(cols["voter_id"])


def history(cols: dict[str, pa.Array], path: Path, line0: int) -> None:
    """Absentee / Provisional flags → method; the county's name upper case; registration
    numbers without leading zeros.

    Georgia flags absentee ("Y"/"N") and provisional ("Y"/"N"); absentee covers early in
    person and mail alike in the history file, which cannot tell them apart: it is read as
    early."""
    absentee = pc.equal(pc.utf8_upper(pc.utf8_trim_whitespace(cols.pop("_absentee"))), "Y")
    provisional = pc.equal(pc.utf8_upper(pc.utf8_trim_whitespace(cols.pop("_provisional"))), "Y")
    cols["method"] = pc.if_else(provisional, "provisional",
                                pc.if_else(absentee, "early", "in_person"))
    cols["county"] = pc.utf8_upper(pc.utf8_trim_whitespace(cols["county"]))
    cols["voter_id"] = _reg_number(cols["voter_id"])
