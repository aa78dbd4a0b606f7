// Item analysis report: sort the items table by clicking a header (numbers by their data-sort value).
function sortTable(table, column, type, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[column];
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (type === 'num') {
      const value = parseFloat(raw);
      return Number.isNaN(value) ? null : value;
    }
    return raw;
  };
  rows.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka === null && kb === null) return 0;
    if (ka === null) return 1; // empty values last in either direction
    if (kb === null) return -1;
    const order = type === 'num' ? ka - kb : String(ka).localeCompare(String(kb), 'zh-CN');
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
}

document.querySelectorAll('table.sortable').forEach((table) => {
  table.querySelectorAll('thead th').forEach((th, index) => {
    if (!th.dataset.type) return;
    th.classList.add('sort-header');
    th.tabIndex = 0;
    const activate = () => {
      const descending = th.getAttribute('aria-sort') === 'ascending';
      table.querySelectorAll('thead th').forEach((other) => other.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      sortTable(table, index, th.dataset.type, descending);
    };
    th.addEventListener('click', activate);
    th.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        activate();
      }
    });
  });
});
