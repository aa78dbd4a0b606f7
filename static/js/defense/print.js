// Print buttons on the printable timetable and blank score sheets.
for (const button of document.querySelectorAll('[data-print]')) {
  button.addEventListener('click', () => window.print());
}
