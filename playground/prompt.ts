// The task picker: a task with its language and text becomes the prompt line (which stays editable).

import { taskPrompt, type Task } from '../src/tasks.js';

const TEXT_LABEL: Partial<Record<Task, string>> = { answer: 'question', detect: 'objects (a ; b)', segment: 'objects (a ; b)' };

export interface PromptControls {
  task: HTMLSelectElement;
  lang: HTMLInputElement;
  langLabel: HTMLElement;
  taskText: HTMLInputElement;
  /** Its first child is the text node naming the input. */
  textLabel: HTMLElement;
  prompt: HTMLInputElement;
}

/** Shows the inputs the chosen task takes and writes its prompt (left alone for 'custom'). */
export function composePrompt(c: PromptControls): void {
  const task = c.task.value;
  const label = TEXT_LABEL[task as Task];
  c.langLabel.hidden = !['caption', 'answer'].includes(task);
  c.textLabel.hidden = label === undefined;
  c.textLabel.firstChild!.textContent = `${label ?? ''} `;
  if (task === 'custom') return;
  const objects = c.taskText.value.split(';').map((s) => s.trim()).filter(Boolean);
  try {
    c.prompt.value = taskPrompt(task as Task, { lang: c.lang.value.trim() || 'en', text: task === 'answer' ? c.taskText.value : objects });
  } catch {
    c.prompt.value = `${task} `; // the task still needs its text
  }
}
