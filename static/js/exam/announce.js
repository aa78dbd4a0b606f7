// When the exam clock speaks. The visible clock (role=timer) is silent for screen readers; a separate polite live
// region says the time left only as it crosses 10, 5 and 1 minute(s). Pure: seconds in, a mark or null out.
export const ANNOUNCE_AT_MINUTES = [1, 5, 10];

// The minute mark to announce when the time left moves from prevSeconds to nowSeconds, else null. The first
// reading (prevSeconds null) says nothing; a jump across several marks (a shortened deadline) says the lowest.
export function minuteMark(prevSeconds, nowSeconds) {
  if (prevSeconds === null || prevSeconds === undefined || nowSeconds <= 0) return null;
  for (const m of ANNOUNCE_AT_MINUTES) {
    if (prevSeconds > m * 60 && nowSeconds <= m * 60) return m;
  }
  return null;
}

export function announcementText(minutes) {
  return `考试剩余时间 ${minutes} 分钟`;
}
