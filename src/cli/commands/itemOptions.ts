import { type ItemField } from '../../crm/itemFields';
import type { OptionSpec } from '../command';
import { yesNo } from '../input';

/** `jobTitle` -> `job-title`: the flag of a record field. */
export const flagOf = (field: string) => field.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);

/** Options for a record's plain fields (src/crm/itemFields.ts), one flag per field; `renamed` gives some a shorter one. */
export function fieldOptions(fields: Record<string, ItemField>, renamed: Record<string, string>, forUpdate: boolean): Record<string, OptionSpec> {
  return Object.fromEntries(
    Object.entries(fields)
      .filter(([, f]) => !f.readOnly)
      .map(([field, f]): [string, OptionSpec] => {
        const clearable = forUpdate && !f.notNull && !f.required;
        const what = f.description ?? field.replace(/[A-Z]/g, (m) => ` ${m.toLowerCase()}`);
        const placeholder = f.type === 'enum' ? f.values!.join('|') : f.type === 'boolean' ? 'yes|no' : f.type.toUpperCase();
        return [
          renamed[field] ?? flagOf(field),
          { type: 'string', placeholder, field, description: clearable ? `${what} ("" clears it)` : what, required: !forUpdate && f.required },
        ];
      }),
  );
}

/** The input of a record operation from those options: typed values, and "" as null on update. */
export function fieldInput(fields: Record<string, ItemField>, renamed: Record<string, string>, opts: Record<string, unknown>, forUpdate: boolean): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [field, f] of Object.entries(fields)) {
    const value = opts[renamed[field] ?? flagOf(field)];
    if (value === undefined || f.readOnly) continue;
    if (forUpdate && value === '' && !f.notNull && !f.required) input[field] = null;
    else if (f.type === 'boolean') input[field] = yesNo(value as string);
    // A number the schema checks; text that is no number goes on as is, for the schema to name the flag.
    else if (f.type === 'integer') input[field] = /^-?\d+$/.test(value as string) ? Number(value) : value;
    else input[field] = value;
  }
  return input;
}
