"""The words of each notice (pure). Times arrive already in local time, as text."""
from __future__ import annotations


def exam_notice(session_name: str, opens: str, closes: str, duration_minutes: int, place: str,
                changed: bool = False) -> tuple[str, str]:
    title = f"笔试安排{'变更' if changed else ''}：{session_name}"
    where = place.strip() or "线上（在浏览器中登录平台作答）"
    body = (f"考试时间：{opens} 至 {closes}（北京时间），考试时长 {duration_minutes} 分钟。\n"
            f"考试地点：{where}。\n请凭准考证号登录平台，在考试时间内进入考试。")
    return title, body


def defense_notice(start: str, end: str, panel: str, room: str, meeting_link: str) -> tuple[str, str]:
    where = room.strip() or ""
    lines = [f"答辩时间：{start} 至 {end}（北京时间）。", f"答辩组：{panel}。"]
    if where:
        lines.append(f"答辩地点：{where}。")
    if meeting_link.strip():
        lines.append(f"线上会议链接：{meeting_link.strip()}")
    lines.append("请提前 15 分钟到场（或进入线上会议）并携带准考证。")
    return "答辩安排已发布", "\n".join(lines)


def panelist_notice(panel: str, first: str, last: str, count: int, room: str, meeting_link: str) -> tuple[str, str]:
    lines = [f"您所在的答辩组：{panel}，共 {count} 名考生。", f"答辩时间：{first} 至 {last}（北京时间）。"]
    if room.strip():
        lines.append(f"答辩地点：{room.strip()}。")
    if meeting_link.strip():
        lines.append(f"线上会议链接：{meeting_link.strip()}")
    return "答辩评审安排已发布", "\n".join(lines)


def exam_scores_notice(session_name: str) -> tuple[str, str]:
    return f"笔试成绩已发布：{session_name}", "您的笔试成绩已发布，请登录平台在「我的主页」查看。"


def publicity_notice(title: str, start: str, end: str) -> tuple[str, str]:
    return (f"认证结果公示：{title}",
            f"认证结果已发布并进入公示期：{start} 至 {end}。请登录平台查看您的结果；"
            "对公示结果有异议的，请在公示期内向监督委员会反映。")
