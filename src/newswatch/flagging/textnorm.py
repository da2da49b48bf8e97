"""Text normalisation for matching, with a way back to the original offsets.

Matching runs on a *normalised* copy of the text; evidence must quote the *original*.
:func:`normalize` returns both the normalised string and, when the two differ in length,
the original offset of every normalised character::

    n = normalize("HIZB‐ALLAH’s  Jihād")
    n.text                      # "hizb allah's jihad"
    n.span(0, 10)               # (0, 10): "HIZB‐ALLAH" in the original

What normalisation does, character by character (so offsets can be kept):

* Unicode NFKC (full-width letters, ligatures, Arabic presentation forms) and casefold;
* diacritics dropped for Latin, Greek, Cyrillic (é→e, ё→е), Arabic harakat and tatweel,
  Hebrew niqqud; Hangul is left whole (decomposing it would split syllables into jamo);
* Arabic-script letter variants: أ إ آ ٱ → ا, ى → ي, ة ۀ ە ہ ھ → ه, Persian ک ی → ك ي;
  the zero-width non-joiner (Persian حزب‌الله, کره‌ی) becomes a space;
* Turkish dotless ı folds to i (and İ to i), so "HAMAS'IN", "Hamas'ın" and "hamas'in" agree;
* Japanese katakana: the long-vowel mark ー and the small ッ vanish, small vowels become
  full-size (ヒズボッラー = ヒズボラ, ハマース = ハマス); the middle dots ・ · ‧ and the
  double hyphens ＝ ゠ become spaces;
* Chinese: traditional characters (and Japanese simplified forms) fold to the simplified
  character (朝鮮 = 朝鲜, 哈瑪斯 = 哈玛斯, 平壌 = 平壤), for the characters in
  :data:`TRADITIONAL_TO_SIMPLIFIED`;
* every hyphen or dash (and the Hebrew maqaf) becomes a space, apostrophe variants
  (’ ‘ ʼ ׳ `) become ``'``; double quotes of every kind (" « » „ “ ” and the Hebrew
  gershayim ״) and zero-width characters are dropped; CJK brackets 「」『』【】《》〈〉
  become spaces (they separate words in text that has no spaces);
* runs of whitespace become one space.

:func:`split_sentences` finds sentence spans in the original text (Latin, Cyrillic,
Korean, Arabic ``؟`` ``؛`` ``.``, Hebrew, and Chinese and Japanese ``。`` ``！`` ``？`` with
no space after them). The Arabic comma ``،`` is a comma: it does not
end a sentence (Arabic news prose chains long clauses with it).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "TRADITIONAL_TO_SIMPLIFIED",
    "Normalized",
    "is_hangul",
    "normalize",
    "normalize_phrase",
    "sentence_index",
    "split_sentences",
]

_HYPHENS = (
    "\u002d\u00ad\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a"
    "\u2e3b\ufe58\ufe63\uff0d"
)
_APOSTROPHES = "\u2018\u2019\u201b\u02bc\u02bb\u02b9\u2032\u05f3\u0060\u00b4\uff07"
_ZERO_WIDTH = "\u200b\u200d\u2060\ufeff\u0640"  # ZW space, ZW joiner, word joiner, BOM, tatweel
# double quotation marks vanish, so a quoted name inside a phrase still matches:
# مركز «ألما» = مركز ألما, the „Hamas Metro“ = the Hamas Metro (apostrophes are kept)
_QUOTES = '"\u00ab\u00bb\u201c\u201d\u201e\u201f\u2039\u203a\uff02\u05f4'
# separators in scripts without spaces: CJK brackets, middle dots, the double hyphens of
# Japanese transliterations (ジハード・アル＝ビナー), and the Persian zero-width non-joiner
_CJK_SEPARATORS = (
    "\u300c\u300d\u300e\u300f\u3010\u3011\u300a\u300b\u3008\u3009\u3014\u3015"
    "\u00b7\u2027\u30fb\uff65\u2022\u30a0\uff1d=\u200c"
)
# katakana: the long-vowel mark and the small tsu vanish; small vowels become full-size
_KANA: dict[str, str] = {
    "\u30fc": "",  # ー
    "\u30c3": "",  # ッ
    "\u30a1": "\u30a2",  # ァ → ア
    "\u30a3": "\u30a4",  # ィ → イ
    "\u30a5": "\u30a6",  # ゥ → ウ
    "\u30a7": "\u30a8",  # ェ → エ
    "\u30a9": "\u30aa",  # ォ → オ
    "\u30f5": "\u30ab",  # ヵ → カ
    "\u30f6": "\u30b1",  # ヶ → ケ
}

# traditional (and Japanese shinjitai) → simplified, for news vocabulary; pairs of characters
_T2S_PAIRS = (
    # traditional → simplified
    "國国們们這这個个來来時时會会說说對对為为爲为與与從从過过還还進进後后發发髮发開开問问"
    "關关點点長长現现動动實实應应機机經经當当義义將将頭头幾几體体種种樣样話话學学見见間间"
    "員员無无電电報报導导軍军黨党韓韩鮮鲜馬马瑪玛蘭兰隊队衛卫戰战爭争彈弹術术練练訓训專专"
    "業业設设計计劃划網网絡络據据稱称認认協协議议約约讓让鑽钻隱隐類类構构組组織织傳传遞递"
    "轉转驗验職职顧顾揮挥擊击飛飞槍枪鎗枪藥药艦舰聖圣維维護护匯汇價价錢钱買买賣卖貿贸礦矿"
    "鑛矿備备區区際际聯联圖图團团帶带線线綫线邊边裡里裏里東东車车輛辆運运輸输給给統统總总"
    "書书記记領领獨独權权勢势態态號号條条處处務务門门陣阵營营參参親亲夥伙敘叙亞亚薩萨達达"
    "羅罗爾尔倫伦蘇苏烏乌擴扩離离難难詢询證证調调監监視视測测試试庫库築筑興兴鑿凿襲袭傷伤"
    "殺杀綁绑質质談谈屆届選选舉举級级師师麼么嗎吗啟启狀状況况產产製制銷销購购貨货場场億亿"
    "萬万數数額额筆笔資资財财濟济養养習习幫帮繳缴獲获沒没裝装島岛嶼屿灣湾臺台鄉乡縣县鎮镇"
    "廳厅館馆辦办廠厂採采幹干腦脑論论評评訊讯聞闻頻频廣广紙纸雜杂誌志畫画劇剧戲戏樂乐歡欢"
    "慶庆節节禮礼儀仪極极溫温別别損损災灾響响衝冲陸陆帥帅謀谋偵侦諜谍橋桥樑梁龐庞複复壘垒"
    "牆墙鐵铁絲丝韋韦偉伟圍围違违葉叶華华劍剑險险檢检觀观勸劝顯显濕湿邏逻寶宝貴贵讀读續续"
    "賓宾濱滨憂忧優优擾扰戀恋變变彎弯蠻蛮閃闪閉闭閒闲閣阁闊阔闖闯鬧闹闡阐閥阀閱阅階阶陰阴"
    "陽阳隨随陳陈隸隶雖虽雙双雞鸡霧雾靈灵靜静頁页頂顶項项順顺須须預预頓顿題题顏颜願愿風风"
    "飯饭飲饮飽饱餘余館馆饑饥飢饥駐驻駕驾騎骑騙骗驅驱驚惊鬥斗魚鱼鳥鸟鳴鸣鷹鹰鹽盐麥麦黃黄"
    "齊齐齒齿龍龙龜龟傑杰傘伞債债傾倾僅仅儲储兒儿兩两內内凍冻則则剛刚劉刘劑剂勝胜勞劳勵励"
    "卻却厲厉厭厌叢丛喪丧單单嚴严囑嘱園园圓圆塊块堅坚塵尘墜坠壓压壞坏壯壮聲声夠够夢梦夾夹"
    "奪夺奮奋婦妇媽妈孫孙寧宁審审寫写寬宽尋寻屍尸屬属層层歲岁峽峡嶺岭巖岩幣币帳帐廢废強强"
    "歸归錄录徑径復复徵征徹彻恆恒惡恶惱恼愛爱慘惨慣惯憤愤懷怀懼惧戶户拋抛挾挟捨舍掃扫掛挂"
    "揚扬換换搶抢擋挡擔担擁拥擇择擠挤擬拟擺摆攔拦攜携攝摄敗败敵敌斂敛斷断於于晉晋晝昼暫暂"
    "曆历歷历曉晓樓楼標标樞枢檔档歐欧殘残殼壳毀毁氣气漢汉滅灭湯汤溝沟滯滞滲渗滿满漁渔漲涨"
    "潛潜潔洁澤泽濃浓濤涛濫滥灑洒煙烟煉炼爐炉猶犹獄狱獸兽獻献環环畢毕異异瘋疯療疗盜盗盡尽"
    "盤盘眾众衆众確确礙碍禍祸禦御稅税穩稳窮穷竊窃競竞簡简簽签籌筹糧粮紀纪紅红納纳純纯紛纷"
    "細细終终結结絕绝綜综綠绿緊紧編编緩缓縮缩績绩繞绕繩绳繫系係系罰罚罷罢聽听肅肃脅胁脈脉"
    "腳脚臉脸臨临舊旧艱艰莊庄著着蓋盖蔣蒋藍蓝藝艺虛虚蟲虫補补規规覺觉覽览觸触訂订討讨託托"
    "訪访許许訴诉詐诈詞词該该詳详認认誕诞語语誠诚誤误誰谁課课請请諸诸諾诺謂谓講讲謝谢識识"
    "譯译讚赞贊赞豐丰貝贝負负貢贡貧贫販贩貪贪責责費费貼贴賀贺賊贼賠赔賢贤賴赖賽赛贈赠贏赢"
    "趕赶趙赵躍跃軌轨軟软較较載载輕轻輔辅輪轮轄辖轟轰辭辞農农遊游遙遥適适遲迟遷迁遺遗還还"
    "邁迈郵邮鄰邻醫医釋释針针銀银銅铜銳锐鋼钢錯错鍵键鎖锁鏈链鏡镜鐘钟鑑鉴鑒鉴閘闸隻只雲云"
    "頒颁顆颗餓饿驟骤鬆松魯鲁鳳凤麗丽齡龄佈布佔占偽伪僑侨儘尽兇凶凱凯勳勋嘆叹噸吨嚮向執执"
    "塗涂壇坛奧奥寢寝寵宠岡冈崗岗嶄崭廟庙彌弥慮虑憑凭懲惩捲卷掙挣搖摇撐撑撫抚撲扑撥拨攤摊"
    "斃毙斬斩棄弃棟栋樁桩橫横櫃柜歎叹殲歼毆殴決决淚泪淨净測测湧涌準准滬沪漸渐潰溃濁浊瀕濒"
    "灘滩熱热燈灯燒烧犧牺獅狮疊叠積积範范糾纠紹绍緝缉緣缘縫缝縱纵繪绘纏缠纖纤罵骂膽胆膚肤"
    "艙舱萊莱蓮莲蕭萧蘆芦蝦虾褲裤襯衬誘诱諒谅謠谣譽誉豎竖貫贯賬账賦赋賭赌贓赃贖赎趨趋跡迹"
    "踐践蹤踪軀躯輩辈辯辩迴回遠远釀酿鋁铝鋒锋鋪铺錫锡鍛锻鍾钟鑄铸鑰钥隕陨韌韧韻韵頌颂頗颇"
    "頸颈顫颤颱台飼饲飾饰餅饼駁驳駛驶駭骇騰腾騷骚驕骄驢驴鬍胡鬱郁鯨鲸鴿鸽鶴鹤麵面黴霉齋斋"
    "眞真連连鍊炼鑿凿亂乱舉举僱雇噴喷嚇吓囚囚"
    # Japanese shinjitai → simplified, where neither is the traditional form
    "壌壤弾弹発发鉱矿団团戦战伝传転转経经験验関关労劳総总売卖気气対对実实変变広广辺边県县"
    "図图円圆読读続续拡扩挙举営营栄荣応应焼烧鉄铁険险検检剣剑様样権权歓欢観观雑杂暦历齢龄"
    "竜龙亜亚悪恶圧压囲围隠隐駆驱継继軽轻済济剤剂児儿釈释収收従从獣兽縦纵処处奨奖浄净譲让"
    "醸酿粋粹酔醉穂穗髄髓摂摄専专銭钱繊纤荘庄捜搜挿插巣巢騒骚蔵藏臓脏帯带滝泷択择沢泽単单"
    "遅迟鋳铸庁厅徴征聴听逓递闘斗悩恼脳脑覇霸廃废髪发抜拔仏佛併并舗铺豊丰満满黙默訳译頼赖"
    "覧览両两猟猎緑绿涙泪塁垒霊灵恋恋炉炉楼楼録录湾湾"
)
TRADITIONAL_TO_SIMPLIFIED: dict[str, str] = {
    _T2S_PAIRS[i]: _T2S_PAIRS[i + 1]
    for i in range(0, len(_T2S_PAIRS), 2)
    if _T2S_PAIRS[i] != _T2S_PAIRS[i + 1]
}
_SPECIAL: dict[str, str] = {
    **TRADITIONAL_TO_SIMPLIFIED,
    **_KANA,
    **{c: " " for c in _HYPHENS},
    **{c: " " for c in _CJK_SEPARATORS},
    **{c: "'" for c in _APOSTROPHES},
    **{c: "" for c in _ZERO_WIDTH},
    **{c: "" for c in _QUOTES},
    "\u00ad": "",  # soft hyphen: invisible, joins a word
    # Arabic letter variants
    "\u0623": "\u0627",  # أ
    "\u0625": "\u0627",  # إ
    "\u0622": "\u0627",  # آ
    "\u0671": "\u0627",  # ٱ
    "\u0649": "\u064a",  # ى → ي
    "\u0629": "\u0647",  # ة → ه
    "\u06c0": "\u0647",  # ۀ → ه (Persian heh with yeh above: کرهٔ)
    "\u06d5": "\u0647",  # ە → ه
    "\u06c1": "\u0647",  # ہ → ه
    "\u06be": "\u0647",  # ھ → ه
    "\u0131": "i",  # Turkish dotless ı (İ folds to i through its combining dot)
    "\u06a9": "\u0643",  # Persian keheh → kaf
    "\u06cc": "\u064a",  # Persian yeh → yeh
}


# combining (and half-width) kana voicing marks
_KANA_MARKS = {"\u3099": "\u3099", "\u309a": "\u309a", "\uff9e": "\u3099", "\uff9f": "\u309a"}


def _is_jamo(ch: str) -> bool:
    return "\u1100" <= ch <= "\u11ff"


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


@lru_cache(maxsize=65536)
def _map_char(ch: str) -> str:
    """The normalised form of one character (possibly empty or several characters)."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch.isspace():
        return " "
    o = ord(ch)
    if o < 128:
        return ch.lower()
    if is_hangul(ch):
        return unicodedata.normalize("NFKC", ch)
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in _SPECIAL:
            out.append(_SPECIAL[c])
            continue
        if c.isspace():
            out.append(" ")
            continue
        # fold diacritics: decompose, drop combining marks (Latin, Greek, Cyrillic,
        # Hebrew niqqud, Arabic harakat and hamza marks all are category Mn)
        for d in unicodedata.normalize("NFD", c) if ord(c) < 0x2000 else c:
            if unicodedata.category(d) == "Mn":
                continue
            out.append(_SPECIAL.get(d, d))
    return "".join(out)


# ``str.translate`` table for every character seen so far (identity entries map to their
# own code point: a miss would raise and be slow)
_TABLE: dict[int, int | str] = {}
_ONE_TO_ONE: set[str] = set()  # characters whose normalised form is one other character
_RESIZING: set[str] = set()  # characters that vanish or become several
_SPACING: set[str] = set()  # characters (dashes, hyphens) that become a space
_KNOWN: set[str] = set()
_MULTISPACE = re.compile(r"\s{2,}")


def _learn(chars: set[str]) -> None:
    for ch in chars - _KNOWN:
        mapped = _map_char(ch)
        if len(mapped) != 1 or _is_jamo(ch):
            _RESIZING.add(ch)
        elif mapped != ch:
            _ONE_TO_ONE.add(ch)
            if mapped == " " and not ch.isspace():
                _SPACING.add(ch)
        _TABLE[ord(ch)] = ord(ch) if mapped == ch else mapped
        _KNOWN.add(ch)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised string and the way back to the original.

    The way back is a list of segments: normalised offset ``seg_norm[k]`` stands for
    original offset ``seg_orig[k]``; inside a *linear* segment both advance together
    (most of any text), inside a constant one (an expanded character such as ß → ss)
    every normalised character points at the same original character. None: identity.
    """

    original: str
    text: str
    seg_norm: tuple[int, ...] | None = None
    seg_orig: tuple[int, ...] = ()
    seg_linear: tuple[bool, ...] = ()

    def to_original(self, i: int) -> int:
        """Original offset of normalised offset ``i`` (0 ≤ i ≤ len(text))."""
        if self.seg_norm is None:
            return i
        if i >= len(self.text):
            return len(self.original)
        k = bisect_right(self.seg_norm, i) - 1
        if self.seg_linear[k]:
            return self.seg_orig[k] + i - self.seg_norm[k]
        return self.seg_orig[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the normalised span ``[start, end)``."""
        if self.seg_norm is None:
            return start, end
        s = self.to_original(start)
        e = self.to_original(end)
        # characters dropped before the next kept one stay out of the span (quotes,
        # zero-width, spaces), except combining marks that belong to the last letter
        orig = self.original
        while e > s + 1 and (
            orig[e - 1].isspace()
            or (
                _map_char(orig[e - 1]) == ""
                and unicodedata.category(orig[e - 1]) not in ("Mn", "Me")
            )
        ):
            e -= 1
        if e <= s:  # the span ended inside one expanded character (ß → ss)
            e = s + 1
        return s, e


_IRREGULAR: re.Pattern[str] | None = None
_IRREGULAR_SIZE = (-1, -1)


def _irregular() -> re.Pattern[str]:
    """Stretches that need care: characters that vanish or expand, whitespace runs."""
    global _IRREGULAR, _IRREGULAR_SIZE
    if _IRREGULAR is None or (len(_RESIZING), len(_SPACING)) != _IRREGULAR_SIZE:
        cls = "".join(re.escape(c) for c in sorted(_RESIZING))
        sp = "".join(re.escape(c) for c in sorted(_SPACING))
        _IRREGULAR = re.compile(rf"[\s{cls}{sp}]{{2,}}|[{cls}]" if cls else rf"[\s{sp}]{{2,}}")
        _IRREGULAR_SIZE = (len(_RESIZING), len(_SPACING))
    return _IRREGULAR


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching (see the module docstring)."""
    chars = set(text)
    _learn(chars)
    one_to_one = not _ONE_TO_ONE.isdisjoint(chars)
    if _RESIZING.isdisjoint(chars):
        out = text.translate(_TABLE) if one_to_one else text
        if "  " not in out:
            return Normalized(text, out)
    parts: list[str] = []
    seg_norm: list[int] = []
    seg_orig: list[int] = []
    seg_lin: list[bool] = []
    nlen = 0  # length of the normalised text so far
    prev_space = False
    pos = 0
    for m in _irregular().finditer(text):
        a, b = m.span()
        if a > pos:  # a regular stretch: one character for one
            chunk = text[pos:a].translate(_TABLE) if one_to_one else text[pos:a]
            seg_norm.append(nlen)
            seg_orig.append(pos)
            seg_lin.append(True)
            parts.append(chunk)
            nlen += len(chunk)
            prev_space = chunk[-1] == " "
        i = a
        while i < b:
            ch = text[i]
            if (
                "\u1100" <= ch <= "\u1112"
                and i + 1 < len(text)
                and "\u1161" <= text[i + 1] <= "\u1175"
            ):
                # decomposed Hangul (NFD, e.g. from macOS): compose the syllable again
                syl = 0xAC00 + ((ord(ch) - 0x1100) * 21 + ord(text[i + 1]) - 0x1161) * 28
                start = i
                i += 2
                if i < len(text) and "\u11a8" <= text[i] <= "\u11c2":
                    syl += ord(text[i]) - 0x11A7
                    i += 1
                seg_norm.append(nlen)
                seg_orig.append(start)
                seg_lin.append(False)
                parts.append(chr(syl))
                nlen += 1
                prev_space = False
                b = max(b, i)
                continue
            if ch in _KANA_MARKS and parts and parts[-1]:
                # decomposed kana (ホ + ゙, ｶ + ﾞ): the voicing mark belongs to the letter
                composed = unicodedata.normalize("NFC", parts[-1][-1] + _KANA_MARKS[ch])
                if len(composed) == 1:
                    mapped = _map_char(composed)
                    if len(mapped) == 1:
                        parts[-1] = parts[-1][:-1] + mapped
                i += 1
                continue
            for c in _map_char(ch):
                if c == " ":
                    if prev_space:
                        continue
                    prev_space = True
                else:
                    prev_space = False
                seg_norm.append(nlen)
                seg_orig.append(i)
                seg_lin.append(False)
                parts.append(c)
                nlen += 1
            i += 1
        pos = b
    if pos < len(text):
        chunk = text[pos:].translate(_TABLE) if one_to_one else text[pos:]
        seg_norm.append(nlen)
        seg_orig.append(pos)
        seg_lin.append(True)
        parts.append(chunk)
    return Normalized(text, "".join(parts), tuple(seg_norm), tuple(seg_orig), tuple(seg_lin))


def normalize_phrase(phrase: str) -> str:
    """Normalise a watchlist phrase: as :func:`normalize`, then trimmed."""
    return normalize(phrase).text.strip()


# --- sentences -----------------------------------------------------------------------

# a sentence ends at . ! ? … (and Arabic ؟ ؛ Urdu ۔) followed by optional closing
# quotes/brackets and whitespace, at CJK 。？！ (no space follows them in Chinese or
# Japanese), or at a line break
_SENT_END = re.compile(
    r"""[\u3002\uff1f\uff01]+["'\u201d\u2019\u300d\u300f\uff09)\]]*"""
    r"""|[.!?\u2026\u061f\u061b\u06d4\u3002\uff1f\uff01]+["'\u201d\u2019\u00bb\u201c)\]]*(?=\s|$)|\n"""
)
_ABBREV = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "sgt",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "inc",
        "corp",
        "co",
        "ltd",
        "fig",
        "approx",
        "dept",
        "est",
        "govt",
        "sen",
        "rep",
        "gov",
        "pres",
        "adm",
        "cmdr",
        "brig",
        "ca",
        "cf",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "z.b",
        "bzw",
        "usw",
        "vgl",
        "ggf",
        "mme",
        "mlle",
        "sr",
        "sra",
        "dra",
        "т.е",
        "т.д",
        "г",
        "гг",
        "ул",
    ]
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` in ``text``, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    for m in _SENT_END.finditer(text):
        end = m.end()
        g = m.group()
        # 「…した。」と述べた: a quoted sentence inside a sentence goes on
        cjk = g[0] in "\u3002\uff1f\uff01"
        if cjk and g[-1] not in "\u3002\uff1f\uff01" and end < n and not text[end].isspace():
            continue
        if g != "\n" and g[0] == ".":
            k = j = m.start()
            while k > 0 and j - k < 24 and not text[k - 1].isspace():
                k -= 1
            w = text[k:j].lower().lstrip("(\"'")
            if w in _ABBREV or (len(w) == 1 and w.isalpha() and w.isascii()):
                continue
            # "e.g. the" — a lower-case Latin letter next means the sentence goes on
            nxt = end
            while nxt < n and text[nxt].isspace() and text[nxt] != "\n":
                nxt += 1
            if nxt < n and text[nxt].isascii() and text[nxt].islower():
                continue
        _add_span(text, start, end, spans)
        start = end
    _add_span(text, start, n, spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def sentence_index(starts: list[int], offset: int) -> int:
    """Index of the sentence (given the sentences' start offsets) holding ``offset``."""
    return max(0, bisect_right(starts, offset) - 1)
